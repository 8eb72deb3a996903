"""One typed configuration per training run, read from and written to TOML.

The file saved next to every checkpoint is the exact configuration that produced it, so a
run can be resumed or reproduced from its folder alone.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from iic_engine.model_config import GeneratorConfig, UpsamplerConfig
from iic_engine.networks.discriminator import DiscriminatorConfig

STAGES = ("generator", "upsampler")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class DataConfig:
    """Where the photos and masks are and how training crops are cut (§3.1, §4.1)."""

    # A folder with train/, train_saliency/ and masks/ (the shared data or a packed subset).
    root: str = "../shared/data"
    crop: int = 256
    # Output pixels per source pixel: 0.5 means a 2·crop square of the photo is shrunk to crop.
    scale_range: tuple[float, float] = (0.5, 1.0)
    # Photos held out of training for the validation PSNR (the smallest name hashes).
    validation_photos: int = 64
    # Share of each batch drawn from photos that have a salient-object mask (§4.1 samples
    # the saliency set and Places2 equally; ours has 300 such photos out of ~1,700).
    saliency_batch_share: float = 0.25
    # Worker processes that synthesise holes ahead of the accelerator (0 = in the loop).
    loader_workers: int = 0


@dataclass(frozen=True)
class HoleConfig:
    """Hole synthesis: object-shaped masks mixed with free-form strokes (§3.1)."""

    object_share: float = 0.7
    # Probability of 1, 2 or 3 objects in an object-shaped hole.
    object_count_weights: tuple[float, float, float] = (0.6, 0.3, 0.1)
    # Target hole-to-image ratio, drawn uniformly; the actual ratio also depends on shape.
    ratio_range: tuple[float, float] = (0.02, 0.6)
    max_rotation_degrees: float = 30.0
    # Share of samples from photos with a salient-object mask whose hole avoids the object.
    salient_subtraction_share: float = 0.5
    # Free-form stroke brush width at a 256 px crop, scaled with the crop (Yu et al. 2019).
    stroke_width_range: tuple[float, float] = (12.0, 40.0)
    stroke_vertices_range: tuple[int, int] = (4, 12)
    max_strokes: int = 12


@dataclass(frozen=True)
class LossConfig:
    """Weights of Eq. 1–3; the paper's values are the defaults."""

    confidence_lambda: float = 0.1
    adversarial_weight: float = 1.0
    # Weight of the adversarial part of L inside Eq. 3 (1 in the paper). That part always
    # favours low confidence while D tells fakes apart; if `hole_confidence` in the log stays
    # near 0 long into a run, lowering this lets λ and the L1 part decide.
    confidence_adversarial_weight: float = 1.0
    # Not in the paper: for this many steps of a run the generator's losses leave D out
    # while D trains, then both adversarial weights grow linearly to their values over
    # `adversarial_ramp_steps`, so a fine-tune's generator does not follow a fresh D's
    # noise. The hold alone does not save a reconstruction-trained generator from the
    # paper's weights (docs/training.md, "The round's adversarial weights"): their size does.
    adversarial_hold_steps: int = 0
    adversarial_ramp_steps: int = 0
    coarse_l1_weight: float = 1.0
    # Training runs the confidence feedback this many times (§3.2: "When training, we iterate twice").
    feedback_iterations: int = 2
    # Not in the paper: the squared error of each pass's composite blurred by
    # `structure_sigma` px (`losses.structure_loss`); 0 leaves it out.
    structure_l2_weight: float = 0.0
    structure_sigma: float = 2.0


@dataclass(frozen=True)
class OptimConfig:
    learning_rate: float = 1e-4
    # beta1 = 0.5 as in the SN-PatchGAN training of the free-form work the paper builds on.
    betas: tuple[float, float] = (0.5, 0.999)
    # The guided upsampler's softmax temperature (Eq. 6) gets gradients ~1e-7 and Adam moves
    # a parameter by at most its learning rate per step: at the network's rate it moved 0.016
    # in 1,119 steps from 10. Its own rate lets it reach the selectivity the loss asks for.
    # 0: the network's rate.
    softmax_scale_learning_rate: float = 0.0


@dataclass(frozen=True)
class UpsamplerStageConfig:
    """The guided upsampler's separate training stage (§3.3)."""

    # Side of the high-resolution training crop; the low-resolution input is half of it.
    hr_crop: int = 512
    # Model file (`iic-inpaint export-weights`) whose generator completes the low-resolution
    # input (Algorithm 1, training's iteration count). Empty: the downscaled ground truth.
    generator_weights: str = ""


@dataclass(frozen=True)
class RunConfig:
    """How long, where, and on what a run trains."""

    directory: str = "runs/default"
    stage: str = "generator"
    batch_size: int = 8
    seed: int = 2020
    max_steps: int = 1_000_000
    # Wall-clock budget of one invocation; a resumed run gets the budget again.
    max_minutes: float = 60.0
    log_every_steps: int = 10
    validate_every_steps: int = 200
    checkpoint_every_minutes: float = 10.0
    device: str = "auto"
    # CPU threads for torch (0 = torch's default).
    threads: int = 0
    # Autocast: "auto" is bf16 on CUDA and float32 elsewhere; "bf16" also on the CPU, where
    # CPUs with AVX512-BF16 or AMX train 1.5–2.5× faster (bench/training_step.py on the
    # 2-core CI-class EPYC); "fp32" never.
    precision: str = "auto"
    # Model file (`iic-inpaint export-weights`, e.g. the shipped one) whose network of this
    # stage starts a run that has no checkpoint yet; the discriminator and the optimizers
    # start fresh. A short GPU run then fine-tunes the CPU model rather than starting over.
    # Empty: random weights. A resumed run ignores it.
    initial_weights: str = ""


@dataclass(frozen=True)
class TrainingConfig:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    holes: HoleConfig = field(default_factory=HoleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    upsampler: UpsamplerConfig = field(default_factory=UpsamplerConfig)
    upsampler_stage: UpsamplerStageConfig = field(default_factory=UpsamplerStageConfig)

    def __post_init__(self) -> None:
        if self.run.stage not in STAGES:
            raise ValueError(f"run.stage must be one of {STAGES}, not {self.run.stage!r}")
        if self.run.precision not in PRECISIONS:
            raise ValueError(
                f"run.precision must be one of {PRECISIONS}, not {self.run.precision!r}"
            )
        if self.loss.adversarial_hold_steps < 0 or self.loss.adversarial_ramp_steps < 0:
            raise ValueError("loss.adversarial_hold_steps and _ramp_steps must be 0 or more")
        if self.data.crop % 8:
            raise ValueError(f"data.crop must be a multiple of 8, not {self.data.crop}")


def _build(cls: type, values: dict[str, object], where: str) -> object:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown} in [{where}]; known: {sorted(known)}")
    kwargs: dict[str, object] = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ValueError(f"[{where}.{name}] must be a table")
            kwargs[name] = _build(typing.cast(type, hint), value, f"{where}.{name}".lstrip("."))
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        elif hint is float and isinstance(value, int):
            kwargs[name] = float(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(values: dict[str, object]) -> TrainingConfig:
    config = _build(TrainingConfig, values, "")
    assert isinstance(config, TrainingConfig)
    return config


def load_config(path: str | Path) -> TrainingConfig:
    with open(path, "rb") as file:
        return config_from_dict(tomllib.load(file))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def config_to_toml(config: TrainingConfig) -> str:
    lines: list[str] = []
    for section in dataclasses.fields(config):
        lines.append(f"[{section.name}]")
        for name, value in dataclasses.asdict(getattr(config, section.name)).items():
            lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def with_overrides(config: TrainingConfig, **run_overrides: object) -> TrainingConfig:
    """The same config with some [run] settings replaced (command-line overrides)."""
    changes = {k: v for k, v in run_overrides.items() if v is not None}
    run = dataclasses.replace(config.run, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(config, run=run)
