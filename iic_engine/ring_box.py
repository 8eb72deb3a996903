"""The box a fill's border work reads: the hole's bounding box grown by the one-pixel ring of
known pixels around it (within the image)."""

from __future__ import annotations

import torch


def ring_box(hole: torch.Tensor) -> tuple[slice, slice]:
    """hole (H,W) bool with at least one pixel set → (rows, cols) slices."""
    height, width = hole.shape
    rows = hole.any(dim=1).nonzero().squeeze(1)
    cols = hole.any(dim=0).nonzero().squeeze(1)
    return (
        slice(max(0, int(rows[0]) - 1), min(height, int(rows[-1]) + 2)),
        slice(max(0, int(cols[0]) - 1), min(width, int(cols[-1]) + 2)),
    )
