"""Turn training runs into the model file the engine loads (`iic_engine.weights`)."""

from __future__ import annotations

from pathlib import Path

from iic_engine.networks.generator import Generator
from iic_engine.networks.guided_upsampler import GuidedUpsampler
from iic_engine.training.checkpoint import CONFIG_NAME, load_checkpoint_step, load_module_state
from iic_engine.training.config import load_config
from iic_engine.weights import load_weights, save_weights


def export_weights(
    generator_run: str | Path,
    out: str | Path,
    upsampler_run: str | Path | None = None,
    model_version: str | None = None,
    upsampler_weights: str | Path | None = None,
) -> Path:
    """Generator from one run's checkpoint, guided upsampler from another's, from a model
    file's (`upsampler_weights`: a generator fine-tuned alone keeps the shipped upsampler)
    or untrained, which the file's notes then say."""
    if upsampler_run is not None and upsampler_weights is not None:
        raise ValueError(
            "Give the upsampler's run folder or a model file to take it from, not both."
        )
    generator_config = load_config(Path(generator_run) / CONFIG_NAME)
    generator = Generator(generator_config.generator)
    generator.load_state_dict(load_module_state(generator_run, "generator"))
    step = load_checkpoint_step(generator_run)
    notes = f"generator: {generator_run} step {step}"
    if upsampler_run is not None:
        upsampler_config = load_config(Path(upsampler_run) / CONFIG_NAME)
        upsampler = GuidedUpsampler(upsampler_config.upsampler)
        upsampler.load_state_dict(load_module_state(upsampler_run, "upsampler"))
        notes += f"; upsampler: {upsampler_run} step {load_checkpoint_step(upsampler_run)}"
    elif upsampler_weights is not None:
        loaded = load_weights(Path(upsampler_weights))
        upsampler = loaded.upsampler
        notes += f"; upsampler: from {loaded.metadata.model_version} ({loaded.metadata.notes})"
    else:
        upsampler = GuidedUpsampler(generator_config.upsampler)
        notes += "; upsampler: untrained"
    version = model_version or f"{Path(generator_run).name}-{step}"
    save_weights(Path(out), generator, upsampler, version, notes)
    return Path(out)
