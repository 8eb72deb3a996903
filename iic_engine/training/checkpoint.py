"""A run folder: the last checkpoint, the config that made it, and the log.

    RUN/checkpoint/state.json        step and training time so far
    RUN/checkpoint/<module>.pt       weights and optimizer state of one network
    RUN/config.toml                  the exact config of the run
    RUN/log.jsonl                    losses, validation PSNR, start and stop events

A checkpoint is written into a staging folder and swapped in by renames, so an interrupted
write (a killed job, a device session running out) leaves the previous checkpoint usable.
One file per network keeps each under the device tool's 16 MiB per returned file. The
optimizer moments are stored in bfloat16: they are running averages, and halving them lets a
checkpoint travel to a GPU machine together with the training data in 64 MiB.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from iic_engine.training.config import TrainingConfig, config_to_toml

CHECKPOINT_FOLDER = "checkpoint"
STATE_NAME = "state.json"
CONFIG_NAME = "config.toml"
LOG_NAME = "log.jsonl"
_STAGING_SUFFIX = ".new"
_PREVIOUS_SUFFIX = ".old"


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
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a run's files are not secret
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
    """Write RUN/checkpoint/ (swapped in whole) and RUN/config.toml (atomically)."""
    run = Path(directory)
    final = run / CHECKPOINT_FOLDER
    staging = run / (CHECKPOINT_FOLDER + _STAGING_SUFFIX)
    previous = run / (CHECKPOINT_FOLDER + _PREVIOUS_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, module in modules.items():
        optimizer = optimizers.get(name)
        payload = {
            "module": module.state_dict(),
            "optimizer": None
            if optimizer is None
            else _compact_optimizer_state(optimizer.state_dict()),
        }
        torch.save(payload, staging / f"{name}.pt")
    state = {"step": resume.step, "elapsed_seconds": resume.elapsed_seconds}
    (staging / STATE_NAME).write_text(json.dumps(state) + "\n")
    _atomic_write(
        run / CONFIG_NAME, lambda temporary: Path(temporary).write_text(config_to_toml(config))
    )
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    shutil.rmtree(previous, ignore_errors=True)
    return final


def _checkpoint_folder(directory: str | Path) -> Path | None:
    """The complete checkpoint, or the previous one if a swap was interrupted."""
    run = Path(directory)
    for folder in (CHECKPOINT_FOLDER, CHECKPOINT_FOLDER + _PREVIOUS_SUFFIX):
        if (run / folder / STATE_NAME).exists():
            return run / folder
    return None


def _regrouped(saved: dict, optimizer: torch.optim.Optimizer) -> dict:
    """A state saved with other parameter groups (before a parameter got its own learning
    rate, say), its parameters in the same order, split the way the optimizer groups them
    now. Counts that differ are left for `load_state_dict` to refuse."""
    saved_groups = saved["param_groups"]
    if len(saved_groups) == len(optimizer.param_groups):
        return saved
    indices = [index for group in saved_groups for index in group["params"]]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    if len(indices) != sum(sizes):
        return saved
    groups, start = [], 0
    for size in sizes:
        groups.append({**saved_groups[0], "params": indices[start : start + size]})
        start += size
    return {**saved, "param_groups": groups}


def load_checkpoint(
    directory: str | Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    device: torch.device,
) -> ResumePoint | None:
    """Restore modules and optimizers in place; None when the folder has no checkpoint.

    Optimizer moments come back in the parameters' precision (torch casts them on load).
    Hyper-parameters (learning rate, betas) stay those the optimizers were built with: the
    config a run resumes with is the one it uses, even where it changed them.
    """
    folder = _checkpoint_folder(directory)
    if folder is None:
        return None
    for name, module in modules.items():
        payload = torch.load(folder / f"{name}.pt", map_location=device, weights_only=True)
        module.load_state_dict(payload["module"])
        if name in optimizers and payload["optimizer"] is not None:
            optimizer = optimizers[name]
            configured = [
                {key: value for key, value in group.items() if key != "params"}
                for group in optimizer.param_groups
            ]
            optimizer.load_state_dict(_regrouped(payload["optimizer"], optimizer))
            for group, settings in zip(optimizer.param_groups, configured, strict=True):
                group.update(settings)
    state = json.loads((folder / STATE_NAME).read_text())
    return ResumePoint(step=int(state["step"]), elapsed_seconds=float(state["elapsed_seconds"]))


def _require_folder(directory: str | Path) -> Path:
    folder = _checkpoint_folder(directory)
    if folder is None:
        raise FileNotFoundError(f"No checkpoint in {directory}: train that run first.")
    return folder


def load_module_state(directory: str | Path, name: str) -> dict[str, torch.Tensor]:
    """One network's weights from a run's checkpoint (e.g. the generator for export)."""
    path = _require_folder(directory) / f"{name}.pt"
    return torch.load(path, map_location="cpu", weights_only=True)["module"]


def load_checkpoint_step(directory: str | Path) -> int:
    return int(json.loads((_require_folder(directory) / STATE_NAME).read_text())["step"])


def append_log(directory: str | Path, record: Mapping[str, object]) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    with open(Path(directory) / LOG_NAME, "a") as log:
        log.write(json.dumps(record) + "\n")
