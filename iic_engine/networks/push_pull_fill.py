"""Membrane fill: a smooth, parameter-free first guess for the hole.

The coarse network refines this guess instead of starting from zeros (see `generator.py`).
Push: average the known pixels down an image pyramid (each level knows a pixel if any known
pixel lies under it). Pull: climb back, keeping each level's known pixels, taking the rest
from the bilinearly upsampled coarser level, and relaxing those towards the average of their
four neighbours (Jacobi sweeps). Relaxing at every level is a multigrid solve of Laplace's
equation: the hole becomes the smoothest surface that meets its border, like a membrane.
Known pixels are kept exactly; the cost is a few poolings and small convolutions per level.

On dev-eval (100 photos) the plain push-pull scores PSNR 22.51, L1 .0350, SSIM .8491; with
the sweeps 22.95, .0335, .8508 (OpenCV Telea: 21.84, .0352, .8473; Navier–Stokes 21.98,
.0344). More sweeps than `RELAXATION_SWEEPS` changed little on the first 30 photos.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# A pyramid level counts as "knowing" a pixel when this much weight lies under it.
_KNOWN_WEIGHT = 1e-6
# Jacobi sweeps per pyramid level (0 gives the plain push-pull fill).
RELAXATION_SWEEPS = 32


def push_pull_fill(
    incomplete: torch.Tensor, hole: torch.Tensor, sweeps: int = RELAXATION_SWEEPS
) -> torch.Tensor:
    """incomplete (B,C,H,W) = image·(1 − hole), the generator's z; hole (B,1,H,W) in [0,1]
    (1 = missing) → the image with the hole filled.

    Known pixels (hole == 0) come back unchanged, a partly known pixel blends its known share
    with the fill; a fully missing image becomes 0.
    """
    values, weights = incomplete, 1 - hole
    levels: list[tuple[torch.Tensor, torch.Tensor]] = []
    while True:
        levels.append((values, weights))
        if min(values.shape[-2:]) <= 1:
            break
        values = F.avg_pool2d(values, 2, ceil_mode=True)
        weights = F.avg_pool2d(weights, 2, ceil_mode=True)
    filled = torch.zeros_like(levels[-1][0])
    for values, weights in reversed(levels):
        if filled.shape[-2:] != values.shape[-2:]:
            filled = F.interpolate(
                filled, size=values.shape[-2:], mode="bilinear", align_corners=False
            )
        colour = values / weights.clamp_min(_KNOWN_WEIGHT)
        # Soft blend at the finest level honours a feathered hole; coarser levels are binary.
        share = weights if values is levels[0][0] else (weights > _KNOWN_WEIGHT).to(weights)
        fixed = colour * share
        filled = fixed + filled * (1 - share)
        region = _free_region(share)
        if min(filled.shape[-2:]) > 1 and region is not None:
            filled = filled.clone()
            filled[region] = _relax(filled[region], fixed[region], share[region], sweeps)
    return filled


def _free_region(share: torch.Tensor) -> tuple[slice, ...] | None:
    """The bounding box of the pixels the sweeps may change (share < 1), widened by the
    one-pixel ring of fixed pixels they read, or None when every pixel is fixed.

    Sweeping only this box is exact: pixels outside it are fixed, and the ring's replicate
    padding is never used because ring pixels are fixed too. A hole covering a fifth of
    the image leaves most of it outside the box, and the sweeps were most of the
    generator's time.
    """
    free = (share < 1).any(dim=0).any(dim=0)
    rows = free.any(dim=1).nonzero()
    if rows.numel() == 0:
        return None
    cols = free.any(dim=0).nonzero()
    height, width = free.shape
    top, bottom = max(0, int(rows[0]) - 1), min(height, int(rows[-1]) + 2)
    left, right = max(0, int(cols[0]) - 1), min(width, int(cols[-1]) + 2)
    return (slice(None), slice(None), slice(top, bottom), slice(left, right))


def _relax(
    filled: torch.Tensor, fixed: torch.Tensor, share: torch.Tensor, sweeps: int
) -> torch.Tensor:
    """Jacobi sweeps: free pixels move to the average of their four neighbours.

    The four neighbours are added as shifted slices: a depthwise 3×3 convolution did the
    same about 13× slower on the CPU (the seam's solve at native size was a tenth of a
    24-megapixel removal)."""
    free = 1 - share
    for _ in range(sweeps):
        padded = F.pad(filled, (1, 1, 1, 1), mode="replicate")
        around = padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1]
        around += padded[..., 1:-1, :-2]
        around += padded[..., 1:-1, 2:]
        filled = torch.addcmul(fixed, around, free, value=0.25)
    return filled
