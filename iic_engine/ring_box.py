"""The box a fill's border work reads: the hole's bounding box grown by the one-pixel ring of
known pixels around it (within the image)."""

from __future__ import annotations

import torch


def hole_bounds(hole: torch.Tensor) -> tuple[slice, slice]:
    """hole (H,W) bool with at least one pixel set → the (rows, cols) slices of its bounding
    box, without the ring."""
    rows = hole.any(dim=1).nonzero().squeeze(1)
    cols = hole.any(dim=0).nonzero().squeeze(1)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def ring_box(hole: torch.Tensor, margin: int = 1, align: int = 1) -> tuple[slice, slice]:
    """hole (H,W) bool with at least one pixel set → (rows, cols) slices: its bounding box
    grown by `margin` pixels (the ring by default), the start rounded down to a multiple of
    `align` (so a pooled grid on the box is the image's)."""
    height, width = hole.shape
    rows, cols = hole_bounds(hole)
    return (
        slice(max(0, rows.start - margin) // align * align, min(height, rows.stop + margin)),
        slice(max(0, cols.start - margin) // align * align, min(width, cols.stop + margin)),
    )
