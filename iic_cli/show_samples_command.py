"""`iic-inpaint show-samples --config ... --out sheet.png`: look at training samples."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "show-samples",
        help="write a contact sheet of training crops with their synthesised holes tinted",
        description=(
            "Draw the first training batches of a config (same seed, same crops and holes "
            "as the run) and write them as one PNG, holes tinted blue."
        ),
    )
    parser.add_argument("--config", required=True, help="TOML training config")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--count", type=int, default=48, help="number of samples")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from iic_engine.training.config import load_config
    from iic_engine.training.sample_preview import preview_samples

    sheet = preview_samples(load_config(args.config), args.count)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out)
    print(f"wrote {args.count} samples to {args.out}")
    return 0
