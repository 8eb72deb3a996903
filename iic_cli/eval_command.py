"""`iic-inpaint eval --data DIR`: the model against OpenCV Telea on dev-eval photos, per
hole-ratio bin, with the confidence split of Tab. 2 and a contact sheet."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# The engine's own list (the protocol's is the same): eval runs where pyzmq is absent.
from iic_engine.removal import TEXTURES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score the model and OpenCV Telea on a dev-eval folder (L1, PSNR, SSIM by hole size)",
        description=(
            "Run Inpainter.remove (default settings), OpenCV Telea and, when PyPatchMatch is "
            "installed, PatchMatch on every photo of a folder with manifest.csv and "
            "<name>_mask.png holes; print mean L1 / PSNR / SSIM and the texture measures "
            "(gradient ratio, patch SWD) per hole-ratio bin and the Tab. 2 split (inside the "
            "hole, confidence > 0.5 vs ≤ 0.5); write report.md and contact_sheet.png (12 "
            "photos: input with the hole tinted | original | result | peer | confidence)."
        ),
    )
    parser.add_argument("--data", required=True, type=Path, help="e.g. ../shared/data/dev_eval")
    parser.add_argument("--weights", type=Path, default=None, help="model file (default: shipped)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument("--out", type=Path, default=Path("runs/eval"), help="report folder")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument(
        "--texture",
        choices=TEXTURES,
        default="patches",
        help="the model's texture path (default: patches)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from iic_engine import Inpainter
    from iic_engine.evaluation.report import evaluate, format_report, load_dev_eval

    samples = load_dev_eval(args.data, args.limit)
    inpainter = Inpainter(weights=args.weights, device=args.device)

    def model(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = inpainter.remove(image, hole, texture=args.texture)
        return result.image, result.confidence

    started = time.perf_counter()

    def progress(index: int, sample: object) -> None:
        print(f"\r{index + 1}/{len(samples)} photos", end="", file=sys.stderr, flush=True)

    report = evaluate(samples, model, progress)
    print(file=sys.stderr)
    table = format_report(report)
    header = (
        f"model {inpainter.model_version} (texture {args.texture}) on {args.data} "
        f"({len(samples)} photos, "
        f"device {inpainter.device}, {time.perf_counter() - started:.0f} s)\n\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(header + table)
    Image.fromarray(report.sheet).save(args.out / "contact_sheet.png")
    print(header + table + f"\nwrote {args.out / 'report.md'} and {args.out / 'contact_sheet.png'}")
    return 0
