"""`iic-inpaint remove IMAGE MASK OUT`: remove the object under MASK (white = hole)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from iic_cli.image_files import ImageFileError, read_image, read_mask, write_image
from iic_cli.progress_bar import ProgressBar
from iic_client import ClientError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "remove",
        help="remove the object under a mask from an image file",
        description="Fill the white part of MASK from the rest of IMAGE and write OUT "
        "(format from OUT's suffix: .png, .jpg, .tif).",
    )
    parser.add_argument("image", type=Path)
    parser.add_argument("mask", type=Path, help="white = remove (grey = soft edge)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--avoid", type=Path, help="mask of a region never to copy from")
    parser.add_argument("--use", type=Path, help="mask of the only region to copy from")
    parser.add_argument("--iterations", type=int, default=4, help="confidence-feedback iterations")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--weights", type=Path, help="model file (default: the shipped model)")
    parser.add_argument("--confidence", type=Path, help="also write the confidence map here")
    parser.add_argument(
        "--daemon", action="store_true", help="run through the running `iic-inpaint serve`"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iic_engine.errors import InpaintingError  # imports torch: only when removing

    try:
        image = read_image(args.image)
        hole = read_mask(args.mask)
        avoid = read_mask(args.avoid) if args.avoid else None
        use = read_mask(args.use) if args.use else None
        if args.out.parent and not args.out.parent.exists():
            raise ImageFileError(f"The folder {args.out.parent} does not exist.")
        result, confidence = _remove(args, image, hole, avoid, use)
        write_image(args.out, result)
        if args.confidence is not None and confidence is not None:
            write_image(args.confidence, np.rint(confidence * 255).astype(np.uint8))
    except ImageFileError as error:
        print(f"iic-inpaint: {error}", file=sys.stderr)
        return 2
    except (InpaintingError, ClientError) as error:  # messages that say what to do
        print(f"iic-inpaint: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _remove(
    args: argparse.Namespace,
    image: np.ndarray,
    hole: np.ndarray,
    avoid: np.ndarray | None,
    use: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    bar = ProgressBar(sys.stderr)
    if args.daemon:
        from iic_cli.daemon_remove import remove_through_daemon

        result = remove_through_daemon(image, hole, avoid, use, args.iterations, bar.update)
        bar.finish()
        return result
    from iic_engine import Inpainter

    inpainter = Inpainter(weights=args.weights, device=args.device)
    result = inpainter.remove(
        image, hole, avoid=avoid, use=use, iterations=args.iterations, on_progress=bar.update
    )
    bar.finish()
    if result.stats.note:
        print(f"iic-inpaint: {result.stats.note}", file=sys.stderr)
    return result.image, result.confidence
