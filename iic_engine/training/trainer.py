"""The training loop shared by both stages: resume, draw batches, step, log, validate,
checkpoint, stop by steps or time. `iic-inpaint train --config ...` calls `train`."""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from iic_engine.evaluation.metrics import psnr
from iic_engine.evaluation.report import telea
from iic_engine.training.checkpoint import ResumePoint, append_log, load_checkpoint, save_checkpoint
from iic_engine.training.config import TrainingConfig
from iic_engine.training.data import (
    MASKS_FOLDER,
    BatchPlan,
    BatchPlanner,
    TrainingPhotos,
    assemble_batch,
    resident_photos,
)
from iic_engine.training.generator_stage import GeneratorStage
from iic_engine.training.hole_synthesis import HoleSampler, ObjectMaskPool
from iic_engine.training.runtime import Runtime, start_runtime, stop_runtime
from iic_engine.training.upsampler_stage import UpsamplerStage
from iic_engine.weights import load_weights

Completion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Stage(Protocol):
    crop: int
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, images: torch.Tensor, holes: torch.Tensor, step: int) -> dict[str, float]:
        """One optimisation step; `step` counts the run's steps before it (resumes included)."""
        ...

    def complete(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor: ...

    def first_guess(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class TrainingSummary:
    directory: str
    first_step: int
    last_step: int
    seconds: float
    last_losses: dict[str, float]
    validation_psnr: float | None


def build_stage(config: TrainingConfig, runtime: Runtime) -> Stage:
    if config.run.stage == "generator":
        return GeneratorStage(config, runtime)
    return UpsamplerStage(config, runtime)


def validation_psnr(
    complete: Completion, photos: list[torch.Tensor], plan: BatchPlan, crop: int, batch_size: int
) -> float:
    """Mean whole-image PSNR (values in [0,1]) of the validation crops as `complete` fills
    them (a stage's `complete` or its `first_guess`)."""
    scores = []
    for start in range(0, len(plan.photos), batch_size):
        images, holes = assemble_batch(photos, plan, crop, slice(start, start + batch_size))
        completed = complete(images, holes)
        for result, truth in zip(completed, images, strict=True):
            scores.append(
                psnr(
                    ((result.clamp(-1, 1) + 1) / 2).cpu().numpy(),
                    ((truth + 1) / 2).cpu().numpy(),
                )
            )
    return float(np.mean(scores))


def telea_validation_psnr(photos: list[torch.Tensor], plan: BatchPlan, crop: int) -> float | None:
    """The same score for OpenCV Telea: the floor the model's validation PSNR should clear
    (None where OpenCV is not installed, as on the GPU machine)."""
    fill = telea()
    if fill is None:
        return None
    images, holes = assemble_batch(photos, plan, crop)
    scores = []
    for image, hole in zip(images.cpu(), holes.cpu(), strict=True):
        truth = ((image.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
        filled, _ = fill(truth, hole[0].numpy() > 0.5)
        scores.append(psnr(filled / 255.0, truth / 255.0))
    return float(np.mean(scores))


def start_from_model_file(stage: Stage, config: TrainingConfig, path: Path) -> None:
    """Copy the model file's network of this stage into the stage (`[run] initial_weights`)."""
    loaded = load_weights(path)
    if config.run.stage == "generator":
        network: nn.Module = loaded.generator
        matches = loaded.metadata.generator_config == config.generator
    else:
        network = loaded.upsampler
        matches = loaded.metadata.upsampler_config == config.upsampler
    if not matches:
        raise ValueError(
            f"{path} holds a {config.run.stage} of another architecture than the config's "
            f"[{config.run.stage}] section; start from random weights (initial_weights = "
            '"") or use the architecture the file was made with.'
        )
    stage.modules[config.run.stage].load_state_dict(network.state_dict())


class _StopRequest:
    """SIGTERM/SIGINT finish the current step and write a checkpoint instead of losing it."""

    def __init__(self) -> None:
        self.requested = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request)

    def _request(self, signum: int, frame: object) -> None:
        self.requested = True


def train(config: TrainingConfig) -> TrainingSummary:
    run = config.run
    runtime = start_runtime(run.device, run.threads, run.precision)
    torch.manual_seed(run.seed + runtime.rank)
    stage = build_stage(config, runtime)
    resume = load_checkpoint(run.directory, stage.modules, stage.optimizers, runtime.device)
    started_from_model_file = resume is None and bool(run.initial_weights)
    if started_from_model_file:
        start_from_model_file(stage, config, Path(run.initial_weights))
    resume = resume or ResumePoint(step=0, elapsed_seconds=0.0)
    data = dataclasses.replace(config.data, crop=stage.crop)
    photos = TrainingPhotos.load(data.root, data.validation_photos)
    sampler = HoleSampler(config.holes, ObjectMaskPool.load(f"{data.root}/{MASKS_FOLDER}"))
    planner = BatchPlanner(photos, sampler, data, run.batch_size, run.seed, runtime.rank)
    validation = planner.validation_plan(photos)
    resident = resident_photos(photos, runtime.device)
    loader: DataLoader[BatchPlan] = DataLoader(
        planner,
        batch_size=None,
        sampler=range(resume.step, run.max_steps),
        num_workers=data.loader_workers,
        prefetch_factor=4 if data.loader_workers else None,
        persistent_workers=False,
    )
    stop = _StopRequest()
    started = time.monotonic()
    last_checkpoint = started
    step = resume.step
    losses: dict[str, float] = {}
    val_psnr: float | None = None

    def elapsed() -> float:
        return resume.elapsed_seconds + time.monotonic() - started

    def checkpoint() -> None:
        if runtime.is_main:
            save_checkpoint(
                run.directory, config, stage.modules, stage.optimizers, ResumePoint(step, elapsed())
            )

    def validate() -> float:
        score = validation_psnr(stage.complete, resident, validation, stage.crop, run.batch_size)
        append_log(run.directory, {"step": step, "validation_psnr": score})
        print(f"step={step} validation_psnr={score:.3f}", flush=True)
        return score

    if runtime.is_main:
        reference = telea_validation_psnr(resident, validation, stage.crop)
        # What training has added is the distance from this score, not from Telea's.
        first_guess = validation_psnr(
            stage.first_guess, resident, validation, stage.crop, run.batch_size
        )
        append_log(
            run.directory,
            {
                "event": "start",
                "step": step,
                "device": str(runtime.device),
                "world_size": runtime.world_size,
                "photos": len(photos.names),
                "validation_psnr_telea": reference,
                "validation_psnr_first_guess": first_guess,
            },
        )
        floor = "n/a (OpenCV not installed)" if reference is None else f"{reference:.3f}"
        print(
            f"step={step} validation_psnr_telea={floor} (the floor to beat) "
            f"validation_psnr_first_guess={first_guess:.3f} (what the networks refine)",
            flush=True,
        )
        if started_from_model_file:
            # A fine-tune's later scores are read against where it started.
            val_psnr = validate()
    for plan in loader:
        images, holes = assemble_batch(resident, plan, stage.crop)
        losses = stage.train_step(images, holes, step)
        step += 1
        if runtime.is_main and step % run.log_every_steps == 0:
            record = {"step": step, "elapsed_s": round(elapsed(), 1), **losses}
            append_log(run.directory, record)
            print(
                " ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in record.items()
                ),
                flush=True,
            )
        if runtime.is_main and step % run.validate_every_steps == 0:
            val_psnr = validate()
        if time.monotonic() - last_checkpoint > run.checkpoint_every_minutes * 60:
            checkpoint()
            last_checkpoint = time.monotonic()
        out_of_time = time.monotonic() - started > run.max_minutes * 60
        if runtime.agree(out_of_time or stop.requested):
            break
    checkpoint()
    # A collective: every rank takes part, rank 0 records it.
    replicas_agree = runtime.replicas_agree(stage.modules.values())
    if runtime.is_main:
        if step % run.validate_every_steps and step > resume.step:
            # Every invocation ends with a score, so each GPU chunk reports where the run is.
            val_psnr = validate()
        stop_record: dict[str, object] = {
            "event": "stop",
            "step": step,
            "elapsed_s": round(elapsed(), 1),
        }
        if runtime.distributed:
            stop_record["replicas_agree"] = replicas_agree
        append_log(run.directory, stop_record)
    runtime.barrier()
    stop_runtime(runtime)
    return TrainingSummary(
        directory=run.directory,
        first_step=resume.step,
        last_step=step,
        seconds=time.monotonic() - started,
        last_losses=losses,
        validation_psnr=val_psnr,
    )
