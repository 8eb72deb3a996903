"""Contact sheets: grids of same-height tiles a person can look at (holes tinted blue, as
the paper's figures show them)."""

from __future__ import annotations

import numpy as np
from PIL import Image

HOLE_TINT = np.array([40, 90, 255], dtype=np.float32)
TINT_OPACITY = 0.6
GAP = 4
BACKGROUND = 255


def tint_hole(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """image (H,W,3) uint8, hole (H,W) bool → the image with the hole tinted blue."""
    tinted = image.astype(np.float32)
    tinted[hole] = (1 - TINT_OPACITY) * tinted[hole] + TINT_OPACITY * HOLE_TINT
    return tinted.round().astype(np.uint8)


def grey_tile(values: np.ndarray) -> np.ndarray:
    """(H,W) floats in [0,1] (e.g. confidence) → (H,W,3) uint8."""
    grey = (np.clip(values, 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _fit_height(tile: np.ndarray, height: int) -> np.ndarray:
    if tile.shape[0] == height:
        return tile
    width = max(1, round(tile.shape[1] * height / tile.shape[0]))
    return np.asarray(Image.fromarray(tile).resize((width, height), Image.Resampling.LANCZOS))


def contact_sheet(rows: list[list[np.ndarray]], tile_height: int) -> np.ndarray:
    """Rows of (H,W,3) uint8 tiles, each scaled to `tile_height` → one (H,W,3) uint8 sheet."""
    rendered = []
    for row in rows:
        tiles = [_fit_height(tile, tile_height) for tile in row]
        gap = np.full((tile_height, GAP, 3), BACKGROUND, dtype=np.uint8)
        rendered.append(np.concatenate([part for t in tiles for part in (t, gap)][:-1], axis=1))
    width = max(r.shape[1] for r in rendered)
    padded = [
        np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0)), constant_values=BACKGROUND)
        for r in rendered
    ]
    return np.concatenate(padded, axis=0)[:-GAP]
