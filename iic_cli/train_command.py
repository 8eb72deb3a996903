"""`iic-inpaint train --config configs/NAME.toml`: train (or resume) a stage of the model."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the generator or the guided upsampler; resumes from the run's checkpoint",
        description=(
            "Train one stage as the config says. A run folder holds checkpoint.pt, the "
            "config.toml that made it and log.jsonl; running the same command again resumes "
            "from the last checkpoint. Under torchrun, every rank runs this same command (DDP)."
        ),
    )
    parser.add_argument("--config", required=True, help="TOML training config (see configs/)")
    parser.add_argument("--directory", default=None, help="run folder (overrides [run] directory)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget now")
    parser.add_argument("--max-steps", type=int, default=None, help="total steps of the run")
    parser.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="per device (e.g. a CPU dry run of a GPU config)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iic_engine.training.config import load_config, with_overrides
    from iic_engine.training.trainer import train

    config = with_overrides(
        load_config(args.config),
        directory=args.directory,
        max_minutes=args.max_minutes,
        max_steps=args.max_steps,
        device=args.device,
        batch_size=args.batch_size,
    )
    summary = train(config)
    print(
        f"{summary.directory}: steps {summary.first_step} → {summary.last_step} in "
        f"{summary.seconds / 60:.1f} min; validation PSNR {summary.validation_psnr}"
    )
    return 0
