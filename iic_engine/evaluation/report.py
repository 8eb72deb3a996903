"""The dev-eval report (§4.2–4.3): per hole-ratio bin mean L1 / PSNR / SSIM and the texture
measures (gradient ratio, patch SWD) for the model and, in the same run, OpenCV Telea (when
OpenCV is installed: not on the GPU machine) and PatchMatch (when PyPatchMatch is); the
Tab. 2 confidence split; a contact sheet.

Whole-image metrics on values in [0,1], results composited (pixels outside the hole are the
input's). The Tab. 2 split pools hole pixels over all images (an image contributes its
pixels to "confidence > 0.5" and to "≤ 0.5"), so images with few pixels in one class do not
dominate that class's mean.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from iic_engine.evaluation.contact_sheet import contact_sheet, grey_tile, tint_hole
from iic_engine.evaluation.metrics import (
    RegionError,
    gradient_ratio,
    l1_error,
    patch_swd,
    psnr,
    region_error,
    ssim,
)

# (label, lower, upper) hole-to-image ratio bins of the paper's Fig. 9 and our dev_eval.
RATIO_BINS: tuple[tuple[str, float, float], ...] = (
    ("<10%", 0.0, 0.1),
    ("10-20%", 0.1, 0.2),
    ("20-30%", 0.2, 0.3),
    ("30-40%", 0.3, 0.4),
    ("40-50%", 0.4, 0.5),
)
ALL_BIN = "all"
CONFIDENT = 0.5  # Tab. 2's threshold
SHEET_IMAGES = 12
SHEET_TILE_HEIGHT = 192
# Pixels. Radius 5 reproduces the peer table of issue 4 on dev_eval (PSNR 21.84, L1 .0352).
TELEA_RADIUS = 5
# PyPatchMatch's radius 3 (7×7 patches), the peer of issue 13's table.
PATCHMATCH_RADIUS = 3
METRICS: tuple[tuple[str, str, int], ...] = (
    ("l1", "L1", 4),
    ("psnr", "PSNR", 2),
    ("ssim", "SSIM", 4),
    ("grad_ratio", "grad ratio", 2),
    ("swd", "patch SWD", 2),
)

Fill = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class EvalSample:
    """image (H,W,3) uint8; hole (H,W) bool."""

    name: str
    image: np.ndarray
    hole: np.ndarray

    @property
    def ratio(self) -> float:
        return float(self.hole.mean())


def load_dev_eval(directory: str | Path, limit: int | None = None) -> list[EvalSample]:
    """Photos and fixed holes listed in `manifest.csv`, taken from its bins in turn so that
    the first N (`limit`) cover every bin."""
    directory = Path(directory)
    with open(directory / "manifest.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    by_bin: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_bin.setdefault(row["bin"], []).append(row)
    queues = [by_bin[label] for label in sorted(by_bin)]
    dealt = [q[i] for i in range(max(len(q) for q in queues)) for q in queues if i < len(q)]
    samples = []
    for row in dealt[:limit]:
        image = np.asarray(Image.open(directory / row["image"]).convert("RGB"))
        hole = np.asarray(Image.open(directory / row["mask"]).convert("L")) > 127
        samples.append(EvalSample(Path(row["image"]).stem, image, hole))
    if not samples:
        raise FileNotFoundError(f"No photos listed in {directory / 'manifest.csv'}")
    return samples


def ratio_bin(ratio: float) -> str:
    for label, low, high in RATIO_BINS:
        if low <= ratio < high:
            return label
    return RATIO_BINS[-1][0]


@dataclass
class MethodScores:
    """Per-image scores of one method, grouped by bin (mutable while the run collects them)."""

    l1: dict[str, list[float]] = field(default_factory=dict)
    psnr: dict[str, list[float]] = field(default_factory=dict)
    ssim: dict[str, list[float]] = field(default_factory=dict)
    grad_ratio: dict[str, list[float]] = field(default_factory=dict)
    swd: dict[str, list[float]] = field(default_factory=dict)

    def add(self, bin_label: str, result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> None:
        a, b = result.astype(np.float64) / 255, truth.astype(np.float64) / 255
        scores = {
            "l1": l1_error(a, b),
            "psnr": psnr(a, b),
            "ssim": ssim(a, b),
            "grad_ratio": gradient_ratio(a, b, hole),
            "swd": patch_swd(a, b, hole),
        }
        for label in (bin_label, ALL_BIN):
            for metric, value in scores.items():
                getattr(self, metric).setdefault(label, []).append(value)

    def mean(self, metric: str, bin_label: str) -> float:
        values = [v for v in getattr(self, metric).get(bin_label, []) if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    def count(self, bin_label: str) -> int:
        return len(self.l1.get(bin_label, []))


@dataclass(frozen=True)
class EvalReport:
    methods: dict[str, MethodScores]
    confident: RegionError
    unconfident: RegionError
    sheet: np.ndarray


def telea() -> Fill | None:
    """OpenCV's Telea fast marching, the floor every method must beat, when OpenCV is
    installed (a test, benchmark and `train` extra dependency)."""
    try:
        import cv2
    except ImportError:
        return None

    def fill(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, None]:
        mask = hole.astype(np.uint8) * 255
        filled = cv2.inpaint(image, mask, TELEA_RADIUS, cv2.INPAINT_TELEA)
        return np.where(hole[..., None], filled, image), None

    return fill


def patchmatch() -> Fill | None:
    """PyPatchMatch's inpainting (Barnes et al.), the texture peer, when it is installed
    (a test and benchmark dependency only)."""
    try:
        from patchmatch import patch_match
    except ImportError:
        return None

    def fill(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, None]:
        mask = hole.astype(np.uint8) * 255
        filled = patch_match.inpaint(image, mask, patch_size=PATCHMATCH_RADIUS)
        return np.where(hole[..., None], filled, image), None

    return fill


def peers() -> dict[str, Fill]:
    """The peers installed here, by name: "telea", "patchmatch"."""
    found = {"telea": telea(), "patchmatch": patchmatch()}
    return {name: peer for name, peer in found.items() if peer is not None}


def _sheet_row(
    sample: EvalSample, result: np.ndarray, peer: np.ndarray | None, confidence: np.ndarray
) -> list[np.ndarray]:
    peers = [] if peer is None else [peer]
    return [
        tint_hole(sample.image, sample.hole),
        sample.image,
        result,
        *peers,
        grey_tile(confidence),
    ]


def evaluate(
    samples: list[EvalSample],
    model: Fill,
    on_sample: Callable[[int, EvalSample], None] | None = None,
    compared: dict[str, Fill] | None = None,
) -> EvalReport:
    """model(image, hole) → (result uint8 (H,W,3), confidence (H,W) in [0,1]); compared:
    the peers scored in the same run (default: those installed, `peers`). The sheet shows
    the last peer's fill beside the model's, if there is a peer."""
    compared = peers() if compared is None else compared
    methods = {"model": MethodScores()} | {name: MethodScores() for name in compared}
    confident = unconfident = RegionError(0.0, 0.0, 0)
    sheet_every = max(1, len(samples) // SHEET_IMAGES)
    rows: list[list[np.ndarray]] = []
    for index, sample in enumerate(samples):
        label = ratio_bin(sample.ratio)
        result, confidence = model(sample.image, sample.hole)
        assert confidence is not None
        methods["model"].add(label, result, sample.image, sample.hole)
        peer_result = None
        for name, peer in compared.items():
            peer_result = peer(sample.image, sample.hole)[0]
            methods[name].add(label, peer_result, sample.image, sample.hole)
        truth, output = sample.image / 255.0, result / 255.0
        confident += region_error(output, truth, sample.hole & (confidence > CONFIDENT))
        unconfident += region_error(output, truth, sample.hole & (confidence <= CONFIDENT))
        if index % sheet_every == 0 and len(rows) < SHEET_IMAGES:
            rows.append(_sheet_row(sample, result, peer_result, confidence))
        if on_sample is not None:
            on_sample(index, sample)
    sheet = contact_sheet(rows, SHEET_TILE_HEIGHT)
    return EvalReport(methods, confident, unconfident, sheet)


def format_report(report: EvalReport) -> str:
    """Markdown tables: per-bin metrics for each method, then the Tab. 2 split."""
    labels = [label for label, _, _ in RATIO_BINS] + [ALL_BIN]
    lines = ["| method | metric | " + " | ".join(labels) + " |"]
    lines.append("|---|---|" + "---|" * len(labels))
    for name, scores in report.methods.items():
        for metric, title, digits in METRICS:
            cells = [f"{scores.mean(metric, label):.{digits}f}" for label in labels]
            lines.append(f"| {name} | {title} | " + " | ".join(cells) + " |")
    counts = [str(report.methods["model"].count(label)) for label in labels]
    lines.append("| images | | " + " | ".join(counts) + " |")
    lines += [
        "",
        "| inside the hole | L1 | PSNR | pixels |",
        "|---|---|---|---|",
        f"| confidence > {CONFIDENT} | {report.confident.l1:.4f} | {report.confident.psnr:.2f} "
        f"| {report.confident.values // 3} |",
        f"| confidence ≤ {CONFIDENT} | {report.unconfident.l1:.4f} | "
        f"{report.unconfident.psnr:.2f} | {report.unconfident.values // 3} |",
    ]
    return "\n".join(lines) + "\n"
