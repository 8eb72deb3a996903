"""`iic-inpaint remove IMAGE MASK OUT`: remove the object under MASK (white = hole)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import threading
from pathlib import Path

import numpy as np

from iic_cli.image_files import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    ImageFileError,
    read_image,
    write_image,
)
from iic_cli.mask_files import read_mask
from iic_cli.memory_reuse import keep_freed_memory
from iic_cli.progress_bar import ProgressBar
from iic_client import ClientError
from iic_client.protocol import DEFAULT_ITERATIONS, MAX_GROW_PX, TEXTURES


class OptionError(Exception):
    """Options that do not go together; the message says which to drop."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "remove",
        help="remove the object under a mask from an image file",
        description="Fill the white part of MASK from the rest of IMAGE and write OUT "
        "(format from OUT's suffix: .png, .jpg, .tif). Files are read as viewers show them "
        "(EXIF orientation applied), so MASK matches IMAGE as shown; OUT is written upright "
        "with IMAGE's depth, colour profile and EXIF where its format can hold them.",
    )
    parser.add_argument("image", type=Path)
    parser.add_argument("mask", type=Path, help="white = remove (below 50 %% grey = keep)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--avoid", type=Path, help="mask of a region never to copy from")
    parser.add_argument("--use", type=Path, help="mask of the only region to copy from")
    parser.add_argument(
        "--soft-mask",
        action="store_true",
        help="keep MASK's grey levels as a soft edge (default: cut at 50 %%, so JPEG noise "
        "around black selects nothing)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"confidence-feedback iterations (default {DEFAULT_ITERATIONS})",
    )
    parser.add_argument(
        "--texture",
        choices=TEXTURES,
        default="patches",
        help="patches: grain borrowed from the photo, guided by the network (default); "
        "learned: the paper's guided upsampler alone",
    )
    parser.add_argument(
        "--grow",
        type=_grow_pixels,
        default=0,
        metavar="N",
        help="first grow MASK by N pixels, to cover an object's soft fringe the mask missed "
        "(default 0; the editor plug-ins grow by about 0.15 %% of the long side)",
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), help="default: auto (not with --daemon)"
    )
    parser.add_argument(
        "--weights", type=Path, help="model file (default: the shipped model; not with --daemon)"
    )
    parser.add_argument("--confidence", type=Path, help="also write the confidence map here")
    parser.add_argument(
        "--quality",
        type=_jpeg_quality,
        default=DEFAULT_QUALITY,
        help=f"JPEG quality of OUT, 1-100 (default {DEFAULT_QUALITY})",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"largest file read, in pixels (default {DEFAULT_MAX_PIXELS:,}, Pillow's guard "
        "against decompression bombs)",
    )
    parser.add_argument(
        "--daemon", action="store_true", help="run through the running `iic-inpaint serve`"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.daemon:
        keep_freed_memory()
        _start_importing_the_engine()
    # Only the light submodule: once the thread has begun the package (and torch), this
    # import does not wait for it; without the thread it imports torch here.
    from iic_engine.errors import InpaintingError

    try:
        _check_daemon_options(args)
        photo = read_image(args.image, args.max_pixels)
        hole = read_mask(args.mask, soft_edges=args.soft_mask, max_pixels=args.max_pixels)
        avoid = read_mask(args.avoid, max_pixels=args.max_pixels) if args.avoid else None
        use = read_mask(args.use, max_pixels=args.max_pixels) if args.use else None
        if args.out.parent and not args.out.parent.exists():
            raise ImageFileError(f"The folder {args.out.parent} does not exist.")
        result, confidence = _remove(args, photo.pixels, hole, avoid, use)
        notes = write_image(args.out, result, photo.metadata, args.quality)
        if args.confidence is not None and confidence is not None:
            notes += write_image(args.confidence, np.rint(confidence * 255).astype(np.uint8))
    except (ImageFileError, OptionError) as error:
        print(f"iic-inpaint: {error}", file=sys.stderr)
        return 2
    except (InpaintingError, ClientError) as error:  # messages that say what to do
        print(f"iic-inpaint: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"iic-inpaint: {note}", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _start_importing_the_engine() -> None:
    """Import torch and the engine on a thread while the photo and masks are decoded: the
    decoders release the GIL, and on a 24 MP photo the two took 1.3 s and 0.5 s one after
    the other. An import that fails is retried, and its error raised, on the main thread."""

    def import_engine() -> None:
        with contextlib.suppress(Exception):  # the main thread's own import reports it
            importlib.import_module("iic_engine.inpainter")

    threading.Thread(target=import_engine, name="engine-import", daemon=True).start()


def _jpeg_quality(text: str) -> int:
    quality = int(text)
    if not 1 <= quality <= 100:
        raise argparse.ArgumentTypeError(
            f"{quality} is not a JPEG quality: use 1 to 100 (95 is the default)."
        )
    return quality


def _grow_pixels(text: str) -> int:
    grow_px = int(text)
    if not 0 <= grow_px <= MAX_GROW_PX:
        raise argparse.ArgumentTypeError(
            f"--grow {grow_px}: grow the mask by 0 to {MAX_GROW_PX} pixels."
        )
    return grow_px


def _check_daemon_options(args: argparse.Namespace) -> None:
    """The daemon runs its own model on its own device: refuse options it would ignore."""
    ignored = [
        flag for flag, value in (("--weights", args.weights), ("--device", args.device)) if value
    ]
    if args.daemon and ignored:
        raise OptionError(
            f"{' and '.join(ignored)} cannot be used with --daemon: the daemon removes with the "
            "model and device it was started with. Start it with them instead "
            "(iic-inpaint serve --weights FILE --device DEVICE), or leave out --daemon to "
            "remove in this process."
        )


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

        filled = remove_through_daemon(
            image,
            hole,
            avoid,
            use,
            args.iterations,
            bar.update,
            texture=args.texture,
            grow_px=args.grow,
            want_confidence=args.confidence is not None,
        )
        bar.finish()
        return filled
    from iic_engine import EngineLimits, Inpainter

    inpainter = Inpainter(
        weights=args.weights,
        device=args.device or "auto",
        limits=EngineLimits(max_image_pixels=args.max_pixels),
    )
    result = inpainter.remove(
        image,
        hole,
        avoid=avoid,
        use=use,
        iterations=args.iterations,
        texture=args.texture,
        grow_px=args.grow,
        on_progress=bar.update,
    )
    bar.finish()
    if result.stats.note:
        print(f"iic-inpaint: {result.stats.note}", file=sys.stderr)
    # The map is assembled at the photo's size on demand: 96 MB for 24 MP, only if asked.
    return result.image, result.confidence if args.confidence is not None else None
