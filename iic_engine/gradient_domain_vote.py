"""The vote in the gradient domain: a hole pixel takes its match's *gradients*, not its
colour, and the fill is the image whose gradients are closest to those (a Poisson problem
with the known pixels as its boundary, Pérez et al. 2003).

Copying colours makes a mosaic: each copy carries its source's absolute level, so on a sky
or a smooth wall the copies disagree by the light's gradient between where they came from
(steps at every copy's edge, and a seam at the border), and one copy from the wrong surface
stays a blotch of the wrong colour. Copied gradients keep the grain and the edges inside
each copy; the levels come from the border, so a copy cannot bring its colour along.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from iic_engine.nearest_neighbour_field import PatchField

# Conjugate gradients on the hole's pixels: the error the colour vote leaves is a mosaic of
# steps, removed in a few tens of iterations; the level of a large blotch needs about the
# hole's diameter in pixels. Past this the remaining change is below 8-bit precision.
MAX_ITERATIONS = 400
TOLERANCE = 1e-4  # of the residual's norm relative to the right-hand side's


def integrate_matches(
    field: PatchField,
    image: torch.Tensor,
    hole: torch.Tensor,
    initial: torch.Tensor,
    screening: float = 0.0,
    max_iterations: int = MAX_ITERATIONS,
) -> torch.Tensor:
    """image (1,C,H,W): known pixels valid where ~hole; hole (H,W) bool; initial (1,C,H,W):
    a start (the colour vote) → (1,C,H,W), known pixels kept, hole pixels the least-squares
    fit to the gradients around each pixel's match."""
    pull_x, pull_y = _copied_gradients(field, image, hole)
    known = torch.where(hole, torch.zeros_like(image), image)
    # The normal equations A·u = b on the hole's pixels: A = degree − hole neighbours (the
    # 4-neighbour Laplacian, known neighbours moved to b), b = the divergence of the copied
    # gradients + the known neighbours. Solved on the hole's pixels alone, as a list.
    rhs = (_divergence(pull_x, pull_y) + _neighbour_sum(known))[0].flatten(1)
    pixels = hole.flatten().nonzero().squeeze(1)
    degree, neighbours = _hole_neighbours(hole, pixels)
    channels = image.shape[1]

    def laplacian(u: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([u, u.new_zeros(channels, 1)], dim=1)  # index N: not a hole pixel
        result = (degree + screening) * u
        for side in neighbours:  # one side at a time: no (C,N,4) copy at native size
            result -= padded.index_select(1, side)
        return result

    flat_initial = initial[0].flatten(1)[:, pixels]
    rhs_hole = rhs[:, pixels] + screening * flat_initial
    solution = _conjugate_gradients(laplacian, rhs_hole, flat_initial, max_iterations)
    result = image[0].flatten(1).clone()
    result[:, pixels] = solution
    return result.view_as(image)


def _hole_neighbours(
    hole: torch.Tensor, pixels: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """For the hole's N pixels: how many neighbours each has inside the image (N,), and the
    list positions of its neighbours on each of the 4 sides (4 × (N,)), N where the
    neighbour is not in the hole."""
    height, width = hole.shape
    position = torch.full((height * width,), len(pixels), dtype=torch.long)
    position[pixels] = torch.arange(len(pixels))
    rows, cols = pixels // width, pixels % width
    degree = torch.zeros(len(pixels))
    neighbours = []
    for d_row, d_col in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        row, col = rows + d_row, cols + d_col
        inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
        degree += inside
        at = torch.where(inside, row * width + col, pixels)
        neighbours.append(torch.where(inside, position[at], len(pixels)))
    return degree, neighbours


def _copied_gradients(
    field: PatchField, image: torch.Tensor, hole: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient wanted on each edge touching the hole, (1,C,H,W-1) across columns and
    (1,C,H-1,W) across rows, read around the match of one of its hole endpoints. An
    estimate that would read beyond the image or into the hole is not made (an edge with
    none wants no step)."""
    height, width = field.height, field.width
    flat = image[0].flatten(1)
    known = ~hole.flatten()
    rows, cols = field.source // width, field.source % width
    # Where both ends of an edge are in the hole, the better match (lower cost) says the
    # step: a mean of two sources' steps is a blend that flattens the grain at every seam.
    every = torch.ones_like(field.source, dtype=torch.bool)
    cost = _estimates(field, field.cost[None].to(flat.dtype), every)[0]
    pulls = []
    for dim, step, room_after, room_before in (
        (3, 1, cols + 1 < width, cols > 0),
        (2, width, rows + 1 < height, rows > 0),
    ):
        after = torch.where(room_after, field.source + step, field.source)
        before = torch.where(room_before, field.source - step, field.source)
        forward, forward_made = _estimates(
            field, flat[:, after] - flat[:, field.source], room_after & known[after]
        )
        backward, backward_made = _estimates(
            field, flat[:, field.source] - flat[:, before], room_before & known[before]
        )
        first, second = _pairs(forward, dim, 0), _pairs(backward, dim, 1)
        first_made, second_made = _pairs(forward_made, dim, 0), _pairs(backward_made, dim, 1)
        first_cost, second_cost = _pairs(cost, dim, 0), _pairs(cost, dim, 1)
        take_first = (first_made > 0) & ((second_made == 0) | (first_cost <= second_cost))
        pulls.append(torch.where(take_first, first, second * second_made))
    return pulls[0], pulls[1]


def _estimates(
    field: PatchField, values: torch.Tensor, made: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(C,N) values of the hole's pixels, (N,) whether each was made → images (1,C,H,W)
    and (1,1,H,W) with zero elsewhere."""
    channels = values.shape[0]
    shape = (1, channels, field.height, field.width)
    image = values.new_zeros(channels, field.height * field.width)
    image[:, field.targets] = values * made
    weight = values.new_zeros(field.height * field.width)
    weight[field.targets] = made.to(values.dtype)
    return image.view(shape), weight.view(1, 1, field.height, field.width)


def _pairs(tensor: torch.Tensor, dim: int, offset: int) -> torch.Tensor:
    """The first (offset 0) or second (offset 1) pixel of every neighbour pair along dim."""
    return tensor.narrow(dim, offset, tensor.shape[dim] - 1)


def _divergence(pull_x: torch.Tensor, pull_y: torch.Tensor) -> torch.Tensor:
    """Σ over a pixel's edges of the wanted step into it: g(left→p) − g(p→right) + …"""
    into_x = F.pad(pull_x, (1, 0)) - F.pad(pull_x, (0, 1))
    into_y = F.pad(pull_y, (0, 0, 1, 0)) - F.pad(pull_y, (0, 0, 0, 1))
    return into_x + into_y


def _neighbour_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of the 4 neighbours inside the image (zero beyond it)."""
    padded = F.pad(tensor, (1, 1, 1, 1))
    return (
        padded[..., :-2, 1:-1]
        + padded[..., 2:, 1:-1]
        + padded[..., 1:-1, :-2]
        + padded[..., 1:-1, 2:]
    )


def _conjugate_gradients(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    start: torch.Tensor,
    max_iterations: int,
) -> torch.Tensor:
    """Solve apply(u) = rhs per channel (apply symmetric positive definite on the hole)."""
    u = start.clone()
    residual = rhs - apply(u)
    direction = residual.clone()
    norm = _dot(residual, residual)
    limit = TOLERANCE**2 * _dot(rhs, rhs).clamp(min=1e-12)
    for _ in range(max_iterations):
        if bool((norm <= limit).all()):
            break
        applied = apply(direction)
        step = norm / _dot(direction, applied).clamp(min=1e-30)
        u = u + step * direction
        residual = residual - step * applied
        new_norm = _dot(residual, residual)
        direction = residual + (new_norm / norm.clamp(min=1e-30)) * direction
        norm = new_norm
    return u


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-channel inner products of (C,N) lists, shaped (C,1) to scale them."""
    return (a * b).sum(dim=1, keepdim=True)
