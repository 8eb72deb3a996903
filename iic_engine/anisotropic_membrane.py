"""Anisotropic membrane: a smooth fill whose values travel along the edges that meet the hole.

The plain membrane (`networks/push_pull_fill.py`) spreads every border colour equally in
all directions, so a horizon or a treeline that meets the hole fades into a wedge of haze.
Here the hole is solved as a graph Laplacian with fixed (Dirichlet) known pixels over eight
neighbour directions, each edge weighted by (1 − c·cos²φ)^P / |e|²: φ is the angle between
the edge and the local gradient, c the coherence of the structure tensor, taken from the
known pixels only and membrane-filled into the hole. Across a coherent edge the weight
vanishes, along it it stays whole: the fill continues lines instead of blurring them.

The system is solved by conjugate gradients with a Jacobi preconditioner, started from the
plain membrane; the cost is at most CONJUGATE_GRADIENT_STEPS 16-neighbour stencils over
the hole's box.

As the generator's first guess it streaked short edges across large holes (kodim02's door
knob was drawn sideways across the red door: single photos −1.9 to +1.5 dB). The patch path
therefore mixes it with the network's completion instead (`continue_edges`), and adds a
quarter of what the anisotropy alone contributes (its difference from the isotropic solve
of the same graph, both solved in one loop).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from iic_engine.binary_morphology import dilate_four_neighbour
from iic_engine.networks.push_pull_fill import push_pull_fill
from iic_engine.patch_synthesis import separable_gaussian
from iic_engine.ring_box import ring_box

# Edge offsets (dy, dx): the four axis and diagonal neighbours and the four knight's moves,
# so a line at any angle finds an edge within about 13° of it.
EDGE_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1))
SHARPNESS = 16  # P: how sharply an edge across the gradient loses its weight
TENSOR_SIGMA = 3.0  # px: the structure tensor's smoothing at the generator's 256 px size
CONJUGATE_GRADIENT_STEPS = 150  # at most; see _SETTLED_ENERGY
# `continue_edges`: the membrane's share of each hole pixel, and the gain on what anisotropy
# adds to it. All 100 dev-eval photos (MODEL_CARD.md, session 24): shares 0.5 / 0.65 / 0.8
# alone gave 22.32 / 22.33 / 22.31 dB, 0.6 with the gain 0.25 22.36.
MEMBRANE_SHARE = 0.6
ANISOTROPY_GAIN = 0.25
# Pixels this many four-neighbour steps from the hole do not inform the tensor: their Sobel
# window reaches into it.
_TENSOR_CLEARANCE = 2
_TENSOR_TRUNCATE = 4.0  # σ: the tensor's Gaussian taps, as scipy.ndimage's default
# Where the smoothed tensor rests on less known weight than this, it is filled from around.
_TENSOR_SUPPORT = 0.3
_LEAST_WEIGHT = 1e-3  # of an edge straight across a fully coherent edge: keeps A definite
_REACH = 2  # the longest offset's reach: known pixels further from the hole play no part
# The solve stops early once every system's preconditioned residual energy fell this far
# (a residual 10⁻³ of the first), checked every few steps since each check waits on it. On
# five dev-eval photos at 256 px it then stopped after 70–90 steps and its fill was within
# 10⁻⁴ of a 1,000-step solve's (the 42 % hole ran all 150 steps: 5·10⁻⁴).
_SETTLED_ENERGY = 1e-6
_SETTLED_CHECK_EVERY = 10


def anisotropic_membrane(
    incomplete: torch.Tensor,
    hole: torch.Tensor,
    sharpness: int | None = None,
) -> torch.Tensor:
    """incomplete (B,3,H,W) RGB = image·(1 − hole); hole (B,1,H,W), > 0.5 = missing →
    the image with the hole filled along the edges that meet it. `sharpness` (SHARPNESS)
    0 gives the isotropic graph membrane. Known pixels come back unchanged; without a
    hole pixel, or without a known one, the plain membrane's fill comes back."""
    power = SHARPNESS if sharpness is None else sharpness
    return _membranes(incomplete, hole, (power,))[0]


def continue_edges(
    completed: torch.Tensor,
    incomplete: torch.Tensor,
    hole: torch.Tensor,
    share: float = MEMBRANE_SHARE,
    gain: float = ANISOTROPY_GAIN,
) -> torch.Tensor:
    """completed (B,3,H,W) in [-1,1], a completion of incomplete = image·(1 − hole) →
    inside the hole, (1 − share)·completed + share·A + gain·(A − I), A the anisotropic and
    I the isotropic membrane: the edges that meet the hole carried on through the network's
    fill. Both membranes come from one solve, in float32 whatever autocast says."""
    with torch.autocast(completed.device.type, enabled=False):
        hole32 = hole.float()
        along, plain = _membranes(incomplete.float(), hole32, (SHARPNESS, 0))
        network = completed.float()
        mixed = network + hole32 * (share * (along - network) + gain * (along - plain))
    return mixed.to(completed.dtype).clamp(-1, 1)


def _membranes(
    incomplete: torch.Tensor,
    hole: torch.Tensor,
    sharpnesses: tuple[int, ...],
) -> list[torch.Tensor]:
    """One fill per sharpness, the systems stacked on the batch so one conjugate-gradient
    loop solves them all (its cost is mostly per step, not per pixel)."""
    unknown = hole > 0.5
    start = push_pull_fill(incomplete, hole)
    if not bool(unknown.any()) or bool(unknown.all()):
        return [start for _ in sharpnesses]
    rows, cols = ring_box(unknown.flatten(0, -3).any(0), margin=_REACH)
    box = (slice(None), slice(None), rows, cols)
    if any(sharpnesses):
        coherence, along_x, along_y = (x[box] for x in _structure(incomplete, unknown))
    else:  # isotropic only: no tensor is needed
        coherence = along_x = along_y = torch.zeros_like(unknown[box], dtype=incomplete.dtype)
    per_system = [_edge_weights(coherence, along_x, along_y, power) for power in sharpnesses]
    weights = [torch.cat(offset_weights) for offset_weights in zip(*per_system, strict=True)]
    count = len(sharpnesses)
    solved = _conjugate_gradients(
        start[box].repeat(count, 1, 1, 1), unknown[box].repeat(count, 1, 1, 1), weights
    )
    fills = []
    for part in solved.chunk(count):
        filled = start.clone()
        filled[box] = torch.where(unknown[box], part, start[box])
        fills.append(filled)
    return fills


def _structure(
    incomplete: torch.Tensor, unknown: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Coherence in [0,1] and the unit gradient direction (x, y), each (B,1,H,W)."""
    red, green, blue = incomplete[:, 0:1], incomplete[:, 1:2], incomplete[:, 2:3]
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    grad_x, grad_y = _sobel(luma)
    near_hole = unknown
    for _ in range(_TENSOR_CLEARANCE):
        near_hole = dilate_four_neighbour(near_hole)
    known = (~near_hole).to(luma.dtype)
    components = torch.cat([grad_x * grad_x, grad_x * grad_y, grad_y * grad_y], 1) * known
    support = separable_gaussian(known, TENSOR_SIGMA, _TENSOR_TRUNCATE)
    tensor = separable_gaussian(components, TENSOR_SIGMA, _TENSOR_TRUNCATE)
    tensor = tensor / support.clamp_min(1e-6)
    missing = ((support <= _TENSOR_SUPPORT) | unknown).float()
    tensor = push_pull_fill(tensor * (1 - missing), missing)
    xx, xy, yy = tensor[:, 0:1], tensor[:, 1:2], tensor[:, 2:3]
    spread = torch.sqrt(((xx - yy) ** 2 / 4 + xy * xy).clamp_min(0))
    coherence = ((2 * spread) / (xx + yy + 1e-4)) ** 2
    angle = 0.5 * torch.atan2(2 * xy, xx - yy)
    return coherence.clamp(0, 1), torch.cos(angle), torch.sin(angle)


def _sobel(luma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=luma.dtype, device=luma.device) / 8
    slope = torch.tensor([-1.0, 0.0, 1.0], dtype=luma.dtype, device=luma.device)
    padded = F.pad(luma, (1, 1, 1, 1), mode="reflect")
    grad_x = F.conv2d(padded, (smooth[:, None] * slope[None, :])[None, None])
    grad_y = F.conv2d(padded, (slope[:, None] * smooth[None, :])[None, None])
    return grad_x, grad_y


def _edge_weights(
    coherence: torch.Tensor, along_x: torch.Tensor, along_y: torch.Tensor, sharpness: int
) -> list[torch.Tensor]:
    """Per offset, (B,1,H,W): the weight of the edge from each pixel to pixel + offset,
    the mean of both ends' weights; 0 where the far end lies outside the image."""
    height, width = coherence.shape[-2:]
    weights = []
    for dy, dx in EDGE_OFFSETS:
        length = math.hypot(dx, dy)
        across = ((dx * along_x + dy * along_y) / length) ** 2
        at_pixel = (1 - coherence * across * (1 - _LEAST_WEIGHT)) ** sharpness / length**2
        edge = torch.zeros_like(at_pixel)
        near, far = _overlap(dy, dx, height, width)
        edge[near] = 0.5 * (at_pixel[near] + at_pixel[far])
        weights.append(edge)
    return weights


def _overlap(dy: int, dx: int, height: int, width: int) -> tuple[tuple, tuple]:
    """Index tuples of the pixels whose neighbour at (dy, dx) is in the image, and of those
    neighbours (dy ≥ 0 in every offset)."""
    rows_near, rows_far = slice(0, height - dy), slice(dy, height)
    if dx >= 0:
        cols_near, cols_far = slice(0, width - dx), slice(dx, width)
    else:
        cols_near, cols_far = slice(-dx, width), slice(0, width + dx)
    everything = (slice(None), slice(None))
    return (*everything, rows_near, cols_near), (*everything, rows_far, cols_far)


def _laplacian(x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """Σ over edges at each pixel of weight · (x_pixel − x_neighbour)."""
    height, width = x.shape[-2:]
    out = torch.zeros_like(x)
    for (dy, dx), weight in zip(EDGE_OFFSETS, weights, strict=True):
        near, far = _overlap(dy, dx, height, width)
        flow = weight[near] * (x[near] - x[far])
        out[near] += flow
        out[far] -= flow
    return out


def _conjugate_gradients(
    start: torch.Tensor, unknown: torch.Tensor, weights: list[torch.Tensor]
) -> torch.Tensor:
    """Solve L x = 0 on the unknown pixels, the known ones fixed at `start`'s values."""
    free = unknown.to(start.dtype)
    diagonal = _laplacian_diagonal(weights, start.shape[-2:]).clamp_min(1e-12)
    x = start.clone()
    residual = -_laplacian(x, weights) * free
    preconditioned = residual / diagonal
    direction = preconditioned
    energy = (residual * preconditioned).sum(dim=(-2, -1), keepdim=True)
    settled = float(energy.max()) * _SETTLED_ENERGY
    for step_number in range(1, CONJUGATE_GRADIENT_STEPS + 1):
        pushed = _laplacian(direction, weights) * free
        curvature = (direction * pushed).sum(dim=(-2, -1), keepdim=True)
        step = energy / curvature.clamp_min(1e-30)
        x = x + step * direction
        residual = residual - step * pushed
        preconditioned = residual / diagonal
        next_energy = (residual * preconditioned).sum(dim=(-2, -1), keepdim=True)
        direction = preconditioned + (next_energy / energy.clamp_min(1e-30)) * direction
        energy = next_energy
        if step_number % _SETTLED_CHECK_EVERY == 0 and float(energy.max()) <= settled:
            break
    return x


def _laplacian_diagonal(weights: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
    height, width = size
    diagonal = torch.zeros_like(weights[0])
    for (dy, dx), weight in zip(EDGE_OFFSETS, weights, strict=True):
        near, far = _overlap(dy, dx, height, width)
        diagonal[near] += weight[near]
        diagonal[far] += weight[near]
    return diagonal
