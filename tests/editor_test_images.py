"""Test images shared by the Krita and GIMP plug-in tests."""

from __future__ import annotations

import numpy as np


def rect_mask(rect: tuple[int, int, int, int], height: int, width: int) -> np.ndarray:
    """(height, width) bool, True inside the x, y, w, h rectangle."""
    x, y, w, h = rect
    mask = np.zeros((height, width), bool)
    mask[y : y + h, x : x + w] = True
    return mask


def structured_rgb(height: int, width: int) -> np.ndarray:
    """RGB uint8 with structure everywhere, so a fill that copies the wrong place shows."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = [(x * 7 + y * 3) % 256, (y * 11) % 256, ((x // 8 + y // 8) % 2) * 200 + 30]
    return np.stack(rgb, -1).astype(np.uint8)
