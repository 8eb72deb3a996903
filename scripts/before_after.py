"""Side-by-side picture: the photo with the selection tinted | the result."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

TINT = np.array([40.0, 90.0, 255.0])
TINT_OPACITY = 0.55
GAP = 8


def before_after(photo: Path, mask: Path, result: Path, out: Path) -> None:
    before = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float32)
    alpha = np.asarray(Image.open(mask).convert("L"), dtype=np.float32)[..., None] / 255.0
    tinted = before * (1 - TINT_OPACITY * alpha) + TINT * TINT_OPACITY * alpha
    after = np.asarray(Image.open(result).convert("RGB"), dtype=np.float32)
    height, width = before.shape[:2]
    sheet = np.full((height, 2 * width + GAP, 3), 255, np.uint8)
    sheet[:, :width] = np.clip(tinted, 0, 255).astype(np.uint8)
    sheet[:, width + GAP :] = after.astype(np.uint8)
    Image.fromarray(sheet).save(out)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: before_after.py PHOTO MASK RESULT OUT.png")
    before_after(*(Path(arg) for arg in sys.argv[1:]))
