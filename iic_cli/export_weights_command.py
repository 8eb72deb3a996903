"""`iic-inpaint export-weights --generator-run DIR --out FILE`: a model file from training runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-weights",
        help="write the engine's model file (fp16 safetensors) from training checkpoints",
    )
    parser.add_argument("--generator-run", required=True, type=Path, help="generator run folder")
    upsampler = parser.add_mutually_exclusive_group()
    upsampler.add_argument("--upsampler-run", type=Path, default=None, help="upsampler run folder")
    upsampler.add_argument(
        "--upsampler-weights",
        type=Path,
        default=None,
        help="model file to take the upsampler from (e.g. the shipped one)",
    )
    parser.add_argument("--out", required=True, type=Path, help=".safetensors file to write")
    parser.add_argument("--model-version", default=None, help="version string in the file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iic_engine.training.export import export_weights

    path = export_weights(
        args.generator_run,
        args.out,
        args.upsampler_run,
        args.model_version,
        upsampler_weights=args.upsampler_weights,
    )
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
