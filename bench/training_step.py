"""Seconds per generator training step (two feedback passes, reconstruction losses, Adam) on
this machine, in float32 and in bf16 autocast, measured in the same run. `[run] precision =
"bf16"` is worth setting for CPU training where the ratio is well above 1 (CPUs with
AVX512-BF16 or AMX). Run: python bench/training_step.py [--batch 8] [--crop 256] [--steps 5]"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from iic_engine.training.config import DataConfig, LossConfig, RunConfig, TrainingConfig
from iic_engine.training.generator_stage import GeneratorStage
from iic_engine.training.runtime import Runtime


def seconds_per_step(precision: str, batch: int, crop: int, steps: int) -> float:
    torch.manual_seed(0)
    config = TrainingConfig(
        run=RunConfig(batch_size=batch, device="cpu", precision=precision),
        data=DataConfig(crop=crop),
        # The shipped CPU recipe's losses: no discriminator step.
        loss=LossConfig(adversarial_weight=0.0, confidence_adversarial_weight=0.0),
    )
    stage = GeneratorStage(config, Runtime(device=torch.device("cpu"), precision=precision))
    images = torch.rand(batch, 3, crop, crop) * 2 - 1
    holes = torch.zeros(batch, 1, crop, crop)
    holes[..., crop // 4 : 3 * crop // 4, crop // 5 : 4 * crop // 5] = 1
    stage.train_step(images, holes)  # warm-up: allocator and oneDNN kernel choice
    timings = []
    for _ in range(steps):
        started = time.perf_counter()
        stage.train_step(images, holes)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    fp32 = seconds_per_step("fp32", args.batch, args.crop, args.steps)
    bf16 = seconds_per_step("bf16", args.batch, args.crop, args.steps)
    print(f"batch {args.batch} at {args.crop}²: float32 {fp32:.2f} s/step, bf16 {bf16:.2f} s/step")
    print(f"bf16 is {fp32 / bf16:.2f}× as fast as float32")


if __name__ == "__main__":
    main()
