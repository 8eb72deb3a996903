"""`iic-inpaint pack-data --out DIR`: a compact training set to carry to a GPU machine."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pack-data",
        help="write a small copy of the training data (shrunk JPEGs + masks) for GPU runs",
        description=(
            "Shrink the training photos (never enlarge) and their salient-object masks, "
            "shrink the object masks, and write them in the data layout the trainer reads, "
            "within a size budget (validation photos first)."
        ),
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write")
    parser.add_argument("--source", type=Path, default=Path("../shared/data"), help="data root")
    parser.add_argument("--short-side", type=int, default=288, help="photo short side, px")
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality")
    parser.add_argument("--budget-mib", type=float, default=34.0, help="size budget, MiB")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iic_engine.training.data import pack_training_data

    summary = pack_training_data(
        args.source,
        args.out,
        short_side=args.short_side,
        jpeg_quality=args.quality,
        budget_mib=args.budget_mib,
    )
    print(
        f"{args.out}: {summary.photos} photos ({summary.photos_left_out} left out by the budget), "
        f"{summary.saliency_masks} salient-object masks, {summary.object_masks} object masks, "
        f"{summary.bytes / 2**20:.1f} MiB"
    )
    return 0
