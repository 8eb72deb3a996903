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

from iic_engine.binary_morphology import dilate, dilate_four_neighbour, erode
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
    box_hole_mask = hole[rows, cols]
    box_hole = box_hole_mask.to(composite.dtype)[None, None]
    box = composite[..., rows, cols]
    mismatch, ring = _ring_mismatch(box, box_hole_mask)
    drift = mismatch * torch.exp(-mismatch.square().sum(1, keepdim=True) / SEAM_TOLERANCE**2)
    # Deeper than the band: no known pixel within SEAM_BAND (beyond the box is hole too).
    core = erode(box_hole_mask, SEAM_BAND, outside=True)
    pinned = (ring | core)[None, None]
    offset = push_pull_fill(drift, (~pinned).to(box.dtype), SEAM_SWEEPS)
    offset = _exact_at_the_border(offset, mismatch, ring, box_hole_mask)
    result = torch.where(hole, composite, known)
    result[..., rows, cols] += offset * box_hole
    return result


def _ring_mismatch(box: torch.Tensor, box_hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The known pixels beside the fill (the ring, (h,w) bool) and, on them only, how far
    each is from what the fill would put there (`_fill_continued`): (1,C,h,w), zero off the
    ring. Computed on the ring's pixels alone, a few thousand of a megapixel box."""
    ring = dilate_four_neighbour(box_hole) & ~box_hole
    ys, xs = ring.nonzero(as_tuple=True)
    values = box[0]
    continued = _fill_continued(values, box_hole, ys, xs)
    mismatch = torch.zeros_like(box)
    mismatch[0, :, ys, xs] = values[:, ys, xs] - continued
    return mismatch, ring


def _exact_at_the_border(
    offset: torch.Tensor, mismatch: torch.Tensor, ring: torch.Tensor, box_hole: torch.Tensor
) -> torch.Tensor:
    """The first NEAR_BORDER pixels inside the hole take the whole mismatch of the ring
    pixels right beside them (a normalised Gaussian of σ = 1 px over the ring), fading into
    the membrane's offset. The membrane alone averages along the ring and spreads only
    small mismatches, so where copies with other colours meet the border (a sky gradient
    filled from higher up) a step was left; a large mismatch now bends only these pixels.

    offset, mismatch (1,C,h,w); ring, box_hole (h,w) bool."""
    ring_weight = ring.to(mismatch.dtype)[None, None]
    near = _near_sum(mismatch) / _near_sum(ring_weight).clamp_min(1e-6)
    share = torch.zeros_like(ring_weight)
    reached = ring
    for step in range(NEAR_BORDER):
        grown = dilate(reached, 1)
        ring_step = (grown & ~reached & box_hole)[None, None]
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


def _fill_continued(
    values: torch.Tensor, hole: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor
) -> torch.Tensor:
    """What the fill would put on the known pixels (ys, xs) beside it, (C,n): from a hole
    neighbour q one step away, 2·f(q) − f(q + step) (the fill's own slope carried one pixel
    out), or f(q) where the hole is one pixel deep; the mean over the four neighbours."""
    height, width = hole.shape
    total = values.new_zeros(values.shape[0], ys.numel())
    count = values.new_zeros(ys.numel())
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        near_y, near_x, near_inside = _step(ys, xs, dy, dx, height, width)
        far_y, far_x, far_inside = _step(ys, xs, 2 * dy, 2 * dx, height, width)
        near_hole = (near_inside & hole[near_y, near_x]).to(values.dtype)
        far_hole = far_inside & hole[far_y, far_x]
        near, far = values[:, near_y, near_x], values[:, far_y, far_x]
        total += near_hole * torch.where(far_hole, 2 * near - far, near)
        count += near_hole
    return total / count.clamp_min(1)


def _step(
    ys: torch.Tensor, xs: torch.Tensor, dy: int, dx: int, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions `(dy, dx)` from (ys, xs), clamped into the box, and whether they lie in it."""
    ny, nx = ys + dy, xs + dx
    inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
    return ny.clamp(0, height - 1), nx.clamp(0, width - 1), inside
