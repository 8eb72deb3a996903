"""No border between fill and known pixels: a gradient-domain correction at the seam.

Copied patches carry their source's colour; where it differs slightly from the pixels
around the hole, the border shows. As in Poisson image editing (Pérez et al. 2003), the
fill keeps its own gradients and takes the smoothest offset that makes it meet the known
pixels: the mismatch measured on the ring of known pixels around the hole, spread over
the hole by the same membrane solve as the generator's first guess.

Two limits keep it from doing harm: a mismatch much larger than grain means the fill meets
other content there (a shutter's edge against stone), not a drift, and is left alone; and
the offset fades to nothing `SEAM_BAND` pixels into the hole, so a ring of mixed colours
cannot tint the middle of a large fill.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from iic_engine.networks.push_pull_fill import push_pull_fill
from iic_engine.ring_box import ring_box

SEAM_BAND = 16  # pixels: how far into the hole the offset reaches
SEAM_TOLERANCE = 0.5  # mismatch (images in [-1,1]) above which a ring pixel is an edge
# Jacobi sweeps per level of the offset's membrane solve: the offset is smooth and the
# multigrid carries it; 32 (the first guess's) cost a tenth of a 24 MP removal for no change
# a person sees.
SEAM_SWEEPS = 8


def blend_seam(composite: torch.Tensor, hole: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """composite (1,C,H,W): known pixels and a fill; hole (H,W) bool; known (1,C,H,W) the
    pixels outside the hole (kept exactly) → the composite with its fill offset."""
    if not bool(hole.any()) or bool(hole.all()):
        return composite
    rows, cols = ring_box(hole)
    box_hole = hole[rows, cols].float()[None, None]
    box = composite[..., rows, cols]
    continued, ring = _fill_continued(box, box_hole)
    mismatch = (box - continued) * ring
    drift = mismatch * torch.exp(-mismatch.square().sum(1, keepdim=True) / SEAM_TOLERANCE**2)
    band = 2 * SEAM_BAND + 1
    # Separable: a 33×33 window's maximum is the maximum of its rows' maxima.
    known_in_rows = F.max_pool2d(1 - box_hole, (1, band), stride=1, padding=(0, SEAM_BAND))
    core = F.max_pool2d(known_in_rows, (band, 1), stride=1, padding=(SEAM_BAND, 0)) == 0
    pinned = ring | core
    offset = push_pull_fill(drift * pinned, (~pinned).to(box.dtype), SEAM_SWEEPS)
    offset = _exact_at_the_border(offset, mismatch, ring, box_hole)
    result = composite.clone()
    result[..., rows, cols] = torch.where(box_hole > 0, box + offset, box)
    return torch.where(hole, result, known)


def _exact_at_the_border(
    offset: torch.Tensor, mismatch: torch.Tensor, ring: torch.Tensor, box_hole: torch.Tensor
) -> torch.Tensor:
    """The first NEAR_BORDER pixels inside the hole take the whole mismatch of the ring
    pixels right beside them (a normalised Gaussian of σ = 1 px over the ring), fading into
    the membrane's offset. The membrane alone averages along the ring and spreads only
    small mismatches, so where copies with other colours meet the border (a sky gradient
    filled from higher up) a step was left; a large mismatch now bends only these pixels."""
    ring_weight = ring.to(mismatch.dtype)
    near = _near_sum(mismatch) / _near_sum(ring_weight).clamp_min(1e-6)
    share = torch.zeros_like(box_hole)
    reached = ring_weight
    for step in range(NEAR_BORDER):
        grown = F.max_pool2d(reached, 3, stride=1, padding=1)
        ring_step = (grown > 0) & (reached == 0) & (box_hole > 0)
        share = torch.where(ring_step, torch.full_like(share, 1 - step / NEAR_BORDER), share)
        reached = grown
    return share * near + (1 - share) * offset


NEAR_BORDER = 2  # pixels inside the hole that follow their own ring neighbours
_NEAR_RADIUS = 2
_NEAR_TAPS = [math.exp(-(offset**2) / 2) for offset in range(-_NEAR_RADIUS, _NEAR_RADIUS + 1)]


def _near_sum(image: torch.Tensor) -> torch.Tensor:
    """Σ over the 5×5 neighbourhood weighted by a Gaussian of σ = 1 px, zero beyond the
    box: separable, as weighted shifted slices (a depthwise 5×5 convolution was a third of
    the seam's time at 24 MP)."""
    height, width = image.shape[-2:]
    padded = F.pad(image, (_NEAR_RADIUS,) * 4)
    rows = torch.zeros_like(padded[..., :, :width])
    for shift, tap in enumerate(_NEAR_TAPS):
        rows.add_(padded[..., :, shift : shift + width], alpha=tap)
    total = torch.zeros_like(image)
    for shift, tap in enumerate(_NEAR_TAPS):
        total.add_(rows[..., shift : shift + height, :], alpha=tap)
    return total


def _fill_continued(box: torch.Tensor, box_hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What the fill would put on each known pixel beside it, and where that is (the ring):
    from a hole neighbour q one step away, 2·f(q) − f(q + step) (the fill's own slope
    carried one pixel out), or f(q) where the hole is one pixel deep; the mean over the
    four neighbours."""
    padded = F.pad(box, (2, 2, 2, 2), mode="replicate")
    hole = F.pad(box_hole, (2, 2, 2, 2))
    height, width = box.shape[-2:]
    total = torch.zeros_like(box)
    count = torch.zeros_like(box_hole)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        near = padded[..., 2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width]
        far = padded[..., 2 + 2 * dy : 2 + 2 * dy + height, 2 + 2 * dx : 2 + 2 * dx + width]
        near_hole = hole[..., 2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width]
        far_hole = hole[..., 2 + 2 * dy : 2 + 2 * dy + height, 2 + 2 * dx : 2 + 2 * dx + width]
        total += near_hole * torch.where(far_hole > 0, 2 * near - far, near)
        count += near_hole
    ring = (count > 0) & (box_hole == 0)
    return total / count.clamp_min(1), ring
