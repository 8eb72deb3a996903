"""A run folder: the last checkpoint, the config that made it, and the log.

Checkpoints are written to a temporary file and renamed over the old one, so an interrupted
write (a killed job, a device session running out) never leaves a broken checkpoint. The
optimizer moments are stored in bfloat16: they are only running averages, and halving them
keeps a checkpoint small enough to travel to a GPU machine with the training data.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from iic_engine.training.config import TrainingConfig, config_to_toml

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.toml"
LOG_NAME = "log.jsonl"


@dataclass(frozen=True)
class ResumePoint:
    step: int
    elapsed_seconds: float


def _atomic_write(path: Path, write: Callable[[str], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _compact_optimizer_state(state: dict) -> dict:
    compact = {"param_groups": state["param_groups"], "state": {}}
    for index, values in state["state"].items():
        compact["state"][index] = {
            key: value.to(torch.bfloat16) if key != "step" and value.is_floating_point() else value
            for key, value in values.items()
        }
    return compact


def save_checkpoint(
    directory: str | Path,
    config: TrainingConfig,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    resume: ResumePoint,
) -> Path:
    """Write checkpoint.pt and config.toml next to each other, each atomically."""
    path = Path(directory) / CHECKPOINT_NAME
    payload = {
        "step": resume.step,
        "elapsed_seconds": resume.elapsed_seconds,
        "modules": {name: module.state_dict() for name, module in modules.items()},
        "optimizers": {
            name: _compact_optimizer_state(optimizer.state_dict())
            for name, optimizer in optimizers.items()
        },
    }
    _atomic_write(path, lambda temporary: torch.save(payload, temporary))
    _atomic_write(
        Path(directory) / CONFIG_NAME,
        lambda temporary: Path(temporary).write_text(config_to_toml(config)),
    )
    return path


def load_checkpoint(
    directory: str | Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    device: torch.device,
) -> ResumePoint | None:
    """Restore modules and optimizers in place; None when the folder has no checkpoint.

    Optimizer moments come back in the parameters' precision (torch casts them on load).
    """
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        return None
    payload = torch.load(path, map_location=device, weights_only=True)
    for name, module in modules.items():
        module.load_state_dict(payload["modules"][name])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(payload["optimizers"][name])
    return ResumePoint(step=int(payload["step"]), elapsed_seconds=float(payload["elapsed_seconds"]))


def _payload(directory: str | Path) -> dict:
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        raise FileNotFoundError(f"No {CHECKPOINT_NAME} in {directory}: train that run first.")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_module_state(directory: str | Path, name: str) -> dict[str, torch.Tensor]:
    """One module's weights from a run's checkpoint (e.g. the generator for export)."""
    return _payload(directory)["modules"][name]


def load_checkpoint_step(directory: str | Path) -> int:
    return int(_payload(directory)["step"])


def append_log(directory: str | Path, record: dict[str, object]) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    with open(Path(directory) / LOG_NAME, "a") as log:
        log.write(json.dumps(record) + "\n")
