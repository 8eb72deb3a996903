"""Push-pull fill: a smooth, parameter-free first guess for the hole.

The coarse network refines this guess instead of starting from zeros (see `generator.py`).
Push: average the known pixels down an image pyramid (each level knows a pixel if any known
pixel lies under it). Pull: climb back, keeping each level's known pixels and taking the
rest from the bilinearly upsampled coarser level. The result keeps known pixels exactly and
spreads the hole's border colours smoothly inwards, like a membrane; it costs a few poolings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# A pyramid level counts as "knowing" a pixel when this much weight lies under it.
_KNOWN_WEIGHT = 1e-6


def push_pull_fill(incomplete: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
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
        filled = colour * share + filled * (1 - share)
    return filled
