"""Growing the hole before it is filled: object selections usually stop inside the object's
soft fringe, and a fill that keeps the fringe as context repaints its colour as a rim."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from iic_engine.errors import InpaintingError

MAX_GROW_PX = 256  # iic_client.protocol.MAX_GROW_PX: past this it removes the scene


def check_grow(grow_px: int) -> None:
    if not 0 <= grow_px <= MAX_GROW_PX:
        raise InpaintingError(
            "bad_grow",
            f"Grow the selection by 0 to {MAX_GROW_PX} pixels (asked: {grow_px}).",
        )


def grow_hole(hole: np.ndarray, grow_px: int, keep: np.ndarray | None = None) -> np.ndarray:
    """hole (H,W), any checked mask dtype → the same dtype, every value spread `grow_px`
    pixels outwards (a soft edge moves out whole). Pixels of `keep` (bool, H×W: avoid) keep
    their original value: growth never reaches into what the user protects."""
    if grow_px == 0 or not hole.any():
        return hole
    rows, cols = np.nonzero(hole)
    top, left = max(0, rows.min() - grow_px), max(0, cols.min() - grow_px)
    bottom = min(hole.shape[0], rows.max() + grow_px + 1)
    right = min(hole.shape[1], cols.max() + grow_px + 1)
    window = torch.from_numpy(hole[top:bottom, left:right].astype(np.float32))[None, None]
    grown_window = _dilate(window, grow_px)[0, 0].numpy().astype(hole.dtype)
    grown = hole.copy()
    grown[top:bottom, left:right] = np.maximum(hole[top:bottom, left:right], grown_window)
    if keep is not None:
        grown[keep] = hole[keep]
    return grown


def _dilate(alpha: torch.Tensor, radius: int) -> torch.Tensor:
    """(1,1,H,W) → max over a round disc of `radius` pixels: one row of the disc at a time,
    each a horizontal max of that row's width (2·radius+1 cheap pools, exact)."""
    height, width = alpha.shape[-2:]
    padded = F.pad(alpha, (radius, radius, radius, radius))
    grown = torch.zeros_like(alpha)
    for row in range(-radius, radius + 1):
        half = math.isqrt(radius * radius - row * row)
        shifted = padded[..., radius + row : radius + row + height, :]
        spread = F.max_pool2d(shifted, (1, 2 * half + 1), stride=1)
        grown = torch.maximum(grown, spread[..., radius - half : radius - half + width])
    return grown
