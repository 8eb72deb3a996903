"""The model file: both networks in one safetensors file (no pickle), fp16, with metadata
that lets the loader refuse a file made for another architecture or damaged on disk."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from iic_engine.errors import WeightsError
from iic_engine.model_config import (
    GeneratorConfig,
    UpsamplerConfig,
    architecture_from_dict,
    architecture_to_dict,
)
from iic_engine.networks.generator import Generator
from iic_engine.networks.guided_upsampler import GuidedUpsampler

WEIGHTS_FORMAT = "iic-inpaint-weights"
FORMAT_VERSION = "2"  # 2: residual generator on a push-pull first guess
SHIPPED_WEIGHTS_NAME = "iic_inpaint.safetensors"
GENERATOR_PREFIX = "generator."
UPSAMPLER_PREFIX = "upsampler."


@dataclass(frozen=True)
class WeightsMetadata:
    model_version: str
    generator_config: GeneratorConfig
    upsampler_config: UpsamplerConfig
    checksum: str
    notes: str = ""


@dataclass(frozen=True)
class LoadedModel:
    generator: Generator
    upsampler: GuidedUpsampler
    metadata: WeightsMetadata


def shipped_weights_path() -> Path:
    return Path(str(resources.files("iic_engine") / "weights" / SHIPPED_WEIGHTS_NAME))


def tensors_checksum(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_weights(
    path: Path,
    generator: Generator,
    upsampler: GuidedUpsampler,
    model_version: str,
    notes: str = "",
) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half-written model."""
    tensors = {
        **{GENERATOR_PREFIX + k: v for k, v in generator.state_dict().items()},
        **{UPSAMPLER_PREFIX + k: v for k, v in upsampler.state_dict().items()},
    }
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in tensors.items()}
    metadata = {
        "format": WEIGHTS_FORMAT,
        "format_version": FORMAT_VERSION,
        "model_version": model_version,
        "generator_config": json.dumps(architecture_to_dict(generator.config)),
        "upsampler_config": json.dumps(architecture_to_dict(upsampler.config)),
        "checksum": tensors_checksum(tensors),
        "notes": notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=metadata)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would make a shipped file unreadable to others
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def load_weights(path: Path | None = None) -> LoadedModel:
    """Load and verify; raises WeightsError with what to do when the file is unusable."""
    path = path or shipped_weights_path()
    if not path.is_file():
        raise WeightsError(
            f"The model file {path} does not exist. Reinstall iic-inpaint, or pass the path "
            "of weights made by `iic-inpaint train`."
        )
    metadata = _read_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise WeightsError(
            f"The model file {path} is damaged ({error}). Reinstall iic-inpaint."
        ) from error
    if tensors_checksum(tensors) != metadata.checksum:
        raise WeightsError(
            f"The model file {path} does not match its checksum: it was altered or damaged. "
            "Reinstall iic-inpaint or copy the file again."
        )
    generator = Generator(metadata.generator_config)
    upsampler = GuidedUpsampler(metadata.upsampler_config)
    _load_state(generator, tensors, GENERATOR_PREFIX, path)
    _load_state(upsampler, tensors, UPSAMPLER_PREFIX, path)
    return LoadedModel(generator.eval(), upsampler.eval(), metadata)


def _read_metadata(path: Path) -> WeightsMetadata:
    try:
        with open(path, "rb") as handle:
            header_size = int.from_bytes(handle.read(8), "little")
            if not 0 < header_size < 100_000_000:
                raise ValueError("header size out of range")
            header = json.loads(handle.read(header_size))
        raw = header.get("__metadata__", {})
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path} is not a safetensors model file ({error}).") from error
    if raw.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{path} is not an IIC Inpaint model file.")
    if raw.get("format_version") != FORMAT_VERSION:
        raise WeightsError(
            f"{path} uses model file format {raw.get('format_version')!r}; this version of "
            f"iic-inpaint reads format {FORMAT_VERSION!r}. Update iic-inpaint or the weights."
        )
    try:
        return WeightsMetadata(
            model_version=raw["model_version"],
            generator_config=architecture_from_dict(
                GeneratorConfig, json.loads(raw["generator_config"])
            ),
            upsampler_config=architecture_from_dict(
                UpsamplerConfig, json.loads(raw["upsampler_config"])
            ),
            checksum=raw["checksum"],
            notes=raw.get("notes", ""),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise WeightsError(f"{path} has incomplete model metadata ({error}).") from error


def _load_state(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path
) -> None:
    state = {k[len(prefix) :]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[0]
        raise WeightsError(
            f"{path} was made for another architecture of the {prefix.rstrip('.')} network "
            f"({first_line}). Use weights trained by this version of iic-inpaint."
        ) from error
