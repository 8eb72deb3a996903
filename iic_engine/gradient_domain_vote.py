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
from iic_engine.ring_box import ring_box

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
    if not bool(hole.any()):
        return image.clone()
    # Everything below lives on the hole's bounding box and the ring of pixels around it
    # (the matches are still read anywhere in the image): at a stage the image is the window
    # of the hole and its sources, several times larger.
    box = _Box(hole)
    pull_x, pull_y = _copied_gradients(field, image, hole, box)
    local_hole = hole[box.rows, box.cols]
    local_image = image[..., box.rows, box.cols]
    known = torch.where(local_hole, torch.zeros_like(local_image), local_image)
    # The normal equations A·u = b on the hole's pixels: A = degree − hole neighbours (the
    # 4-neighbour Laplacian, known neighbours moved to b), b = the divergence of the copied
    # gradients + the known neighbours. With u zero off the hole the stencil is shifted
    # slices, where a list of hole pixels needed four gathers per product (a 24-megapixel
    # stage's solve ran 3x slower). A hole pixel's neighbours all lie in the box (or beyond
    # the image), so counting them there counts the image's.
    rhs = _divergence(pull_x, pull_y) + _neighbour_sum(known)
    in_hole = local_hole.to(image.dtype)
    diagonal = (_neighbour_sum(torch.ones_like(in_hole)[None, None]) + screening) * in_hole

    def laplacian(u: torch.Tensor) -> torch.Tensor:
        result = u * diagonal
        result[..., 1:, :] -= u[..., :-1, :]
        result[..., :-1, :] -= u[..., 1:, :]
        result[..., :, 1:] -= u[..., :, :-1]
        result[..., :, :-1] -= u[..., :, 1:]
        return result.mul_(in_hole)

    start = initial[..., box.rows, box.cols] * in_hole
    rhs_hole = (rhs + screening * start) * in_hole
    solution = _conjugate_gradients(laplacian, rhs_hole, start, max_iterations)
    result = image.clone()
    result[..., box.rows, box.cols] = torch.where(local_hole, solution, local_image)
    return result


class _Box:
    """The hole's bounding box grown by one pixel (`ring_box`), with flat indices into it."""

    def __init__(self, hole: torch.Tensor) -> None:
        self.rows, self.cols = ring_box(hole)
        self.top, self.left = self.rows.start, self.cols.start
        self.height = self.rows.stop - self.rows.start
        self.width = self.cols.stop - self.cols.start

    def local(self, flat: torch.Tensor, width: int) -> torch.Tensor:
        """Flat indices of the image (row-major, `width` wide) → flat indices in the box."""
        return (flat // width - self.top) * self.width + (flat % width - self.left)


def _copied_gradients(
    field: PatchField, image: torch.Tensor, hole: torch.Tensor, box: _Box
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient wanted on each edge touching the hole, (1,C,h,w-1) across columns and
    (1,C,h-1,w) across rows of the box, read around the match of one of its hole endpoints.
    An estimate that would read beyond the image or into the hole is not made (an edge with
    none wants no step)."""
    height, width = field.height, field.width
    flat = image[0].flatten(1)
    known = ~hole.flatten()
    rows, cols = field.source // width, field.source % width
    targets = box.local(field.targets, width)
    # Where both ends of an edge are in the hole, the better match (lower cost) says the
    # step: a mean of two sources' steps is a blend that flattens the grain at every seam.
    every = torch.ones_like(field.source, dtype=torch.bool)
    cost = _estimates(box, targets, field.cost[None].to(flat.dtype), every)[0]
    at_source = flat[:, field.source]
    pulls = []
    for dim, step, room_after, room_before in (
        (3, 1, cols + 1 < width, cols > 0),
        (2, width, rows + 1 < height, rows > 0),
    ):
        after = torch.where(room_after, field.source + step, field.source)
        before = torch.where(room_before, field.source - step, field.source)
        forward, forward_made = _estimates(
            box, targets, flat[:, after] - at_source, room_after & known[after]
        )
        backward, backward_made = _estimates(
            box, targets, at_source - flat[:, before], room_before & known[before]
        )
        first, second = _pairs(forward, dim, 0), _pairs(backward, dim, 1)
        first_made, second_made = _pairs(forward_made, dim, 0), _pairs(backward_made, dim, 1)
        first_cost, second_cost = _pairs(cost, dim, 0), _pairs(cost, dim, 1)
        take_first = (first_made > 0) & ((second_made == 0) | (first_cost <= second_cost))
        pulls.append(torch.where(take_first, first, second * second_made))
    return pulls[0], pulls[1]


def _estimates(
    box: _Box, targets: torch.Tensor, values: torch.Tensor, made: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(C,N) values of the hole's pixels at `targets` (flat in the box), (N,) whether each
    was made → images (1,C,h,w) and (1,1,h,w) of the box with zero elsewhere."""
    channels = values.shape[0]
    image = values.new_zeros(channels, box.height * box.width)
    image[:, targets] = values * made
    weight = values.new_zeros(box.height * box.width)
    weight[targets] = made.to(values.dtype)
    return image.view(1, channels, box.height, box.width), weight.view(1, 1, box.height, box.width)


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
    """Solve apply(u) = rhs per channel of (1,C,h,w) (apply symmetric positive definite on
    the hole, zero off it)."""
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
        u.addcmul_(step, direction)
        residual.addcmul_(step, applied, value=-1)
        new_norm = _dot(residual, residual)
        direction.mul_(new_norm / norm.clamp(min=1e-30)).add_(residual)
        norm = new_norm
    return u


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-channel inner products of (1,C,h,w) images, shaped (1,C,1,1) to scale them."""
    return (a * b).sum(dim=(2, 3), keepdim=True)
