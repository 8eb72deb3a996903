"""The guided-upsampling cascade (§3.3): climb from the generator's working size to the
crop's native size in ×2 stages, each borrowing high-resolution patches of the known region.

Hole pixels inside partially valid patches are not reached by patch replacement; the paper
takes them "as holes and run[s] the iterative inpainting model one more time". Between
stages they take the upsampled previous stage; after the last stage the iterative model
re-fills them on small tiles around them (they form a band a few pixels wide along the
hole's border, so tiles keep that pass cheap at any resolution).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from iic_engine.confidence_feedback import GenerateFn, iterative_inpaint
from iic_engine.networks.guided_upsampler import GuidedUpsampler
from iic_engine.patch_replacement import limit_sources
from iic_engine.upsampler_tiling import TiledRun

# The band pass: the band is at most one patch (8 px) wide, so 32 px tiles give it 12 px of
# context on either side (half the pixels 64 px tiles cost along the same band), and one
# iteration of Algorithm 1 fills it (more only re-fill a band this thin).
REFINE_TILE = 32
REFINE_TILE_MARGIN = 4  # pixels at a tile's edge are context only; the next tile fills them
REFINE_ITERATIONS = 1
REFINE_BATCH = 64
# High-resolution pixels kept around the cells a stage reads: more than the receptive field
# of the similarity (16 LR = 32 HR px) and reconstruction (~16 px) networks and the band
# tiles' context (12 px), so the window's edge changes nothing the stage computes.
WINDOW_HALO = 32


@dataclass(frozen=True)
class Pyramid:
    """Level 0 is the generator's working size, level `stages` the padded native crop.

    images (1,3,h,w) in [-1,1]; holes (1,1,h,w) in {0,1}; allowed (1,1,h,w) bool or None.
    """

    images: list[torch.Tensor]
    holes: list[torch.Tensor]
    allowed: list[torch.Tensor | None]


def build_pyramid(
    image: torch.Tensor, hole: torch.Tensor, allowed: torch.Tensor | None, stages: int
) -> Pyramid:
    """Exact ×2 levels: area-average pixels; a pixel is a hole if any pixel under it is,
    and may be borrowed from only if every pixel under it may."""
    images, holes, allowed_levels = [], [], []
    for level in range(stages + 1):
        factor = 1 << (stages - level)
        if factor == 1:
            images.append(image)
            holes.append(hole)
            allowed_levels.append(allowed)
            continue
        images.append(F.avg_pool2d(image, factor))
        holes.append(F.max_pool2d(hole, factor))
        allowed_levels.append(None if allowed is None else pool_mask(allowed, factor, every=True))
    return Pyramid(images, holes, allowed_levels)


def pool_mask(mask: torch.Tensor, factor: int, every: bool) -> torch.Tensor:
    """(B,1,H,W) bool → (B,1,H/factor,W/factor) bool: a coarse pixel is set if any pixel
    under it is, or with `every` only if all are."""
    if factor == 1:
        return mask
    if every:
        return ~(F.max_pool2d((~mask).float(), factor) > 0)
    return F.max_pool2d(mask.float(), factor) > 0


def upsample_cascade(
    upsampler: GuidedUpsampler,
    generate: GenerateFn,
    lr_result: torch.Tensor,
    pyramid: Pyramid,
    max_sources: int,
    after_stage: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """lr_result (1,3,h,w): completed image at level 0 → completed image at the top level.

    Each stage works on a window of its level: the cells it reads (hole, partly valid and
    kept source cells) plus a halo. Pixels outside it hold no hole, so they are the level's
    own; at 24 megapixels the window is a fraction of the crop, whose generous margin is
    context for the generator at the working size, not for the last stages.
    """
    current = lr_result
    stages = len(pyramid.images) - 1
    for level in range(1, stages + 1):
        image, hole = pyramid.images[level], pyramid.holes[level]
        allowed = pyramid.allowed[level]
        window = stage_window(upsampler, hole, allowed, max_sources)
        rows, cols = window.rows, window.cols
        image_w, hole_w = image[..., rows, cols], hole[..., rows, cols]
        lr_w = current[..., rows.start // 2 : rows.stop // 2, cols.start // 2 : cols.stop // 2]
        output = upsampler(
            lr_w,
            image_w * (1 - hole_w),
            hole_w,
            None if allowed is None else allowed[..., rows, cols],
            run=TiledRun(kept=window.kept_in_window(upsampler.hr_patch)),
        )
        upsampled = image_w * (1 - hole_w) + output.image * hole_w
        unreplaced = output.unreplaced_hole
        if level < stages:
            previous = F.interpolate(lr_w, scale_factor=2.0, mode="bilinear", align_corners=False)
            filled = upsampled * (1 - unreplaced) + previous * unreplaced
        else:
            filled = refine_unreplaced(generate, upsampled, unreplaced)
        current = image.clone()
        current[..., rows, cols] = filled
        if after_stage is not None:
            after_stage(level)
    return current


@dataclass(frozen=True)
class StageWindow:
    """The rows and columns of a level that one stage reads, and its kept source cells:
    kept (gh,gw) bool on the whole level's cell grid, limited once per stage."""

    rows: slice
    cols: slice
    kept: torch.Tensor

    def kept_in_window(self, cell: int) -> torch.Tensor:
        """The kept cells of the window's own cell grid, flattened (the window starts on the
        cell grid; a ragged edge holds no whole cell, as on the level)."""
        assert self.rows.start % cell == 0 and self.cols.start % cell == 0
        rows = slice(self.rows.start // cell, self.rows.stop // cell)
        cols = slice(self.cols.start // cell, self.cols.stop // cell)
        return self.kept[rows, cols].flatten()


def stage_window(
    upsampler: GuidedUpsampler,
    hole: torch.Tensor,
    allowed: torch.Tensor | None,
    max_sources: int,
) -> StageWindow:
    """What of a level (1,1,H,W) one upsampling stage needs: the bounding box of its hole,
    partly valid and kept source cells, plus WINDOW_HALO, on the cell grid (so the
    similarity features keep their alignment)."""
    grid = upsampler.patch_grid(hole, allowed)
    kept = limit_sources(grid.source, grid.hole, grid.shape, max_sources)
    needed = (grid.hole | grid.partial | kept).view(grid.shape)
    rows = needed.any(dim=1).nonzero().squeeze(1)
    cols = needed.any(dim=0).nonzero().squeeze(1)
    kept_cells = kept.view(grid.shape)
    if rows.numel() == 0:
        return StageWindow(slice(0, hole.shape[-2]), slice(0, hole.shape[-1]), kept_cells)
    cell = upsampler.hr_patch
    return StageWindow(
        _window_span(int(rows[0]) * cell, (int(rows[-1]) + 1) * cell, hole.shape[-2], cell),
        _window_span(int(cols[0]) * cell, (int(cols[-1]) + 1) * cell, hole.shape[-1], cell),
        kept_cells,
    )


def _window_span(start: int, stop: int, size: int, cell: int) -> slice:
    """[start, stop) widened by WINDOW_HALO. The start falls on the band pass's tile grid
    (a multiple of its step, itself a multiple of the cell) so the band's tiles sit where
    they would on the whole level; the stop stays on the cell grid."""
    step = REFINE_TILE - 2 * REFINE_TILE_MARGIN
    assert step % cell == 0
    start = max(0, start - WINDOW_HALO) // step * step
    stop = min(size, -(-(stop + WINDOW_HALO) // cell) * cell)
    return slice(start, stop)


def refine_unreplaced(
    generate: GenerateFn, image: torch.Tensor, hole: torch.Tensor
) -> torch.Tensor:
    """Re-fill `hole` pixels of `image` (1,3,H,W) with Algorithm 1 on tiles around them."""
    if not bool(hole.any()):
        return image
    result = image.clone()
    height, width = image.shape[-2:]
    tile_h, tile_w = min(REFINE_TILE, height), min(REFINE_TILE, width)
    tiles = []
    for top, left in _tiles_with_hole_in_core(hole, tile_h, tile_w):
        core = _core(top, left, tile_h, tile_w, height, width, hole)
        tiles.append((top, left, hole[..., top : top + tile_h, left : left + tile_w] * core))
    for start in range(0, len(tiles), REFINE_BATCH):
        batch = tiles[start : start + REFINE_BATCH]
        pixels = torch.cat([result[..., t : t + tile_h, s : s + tile_w] for t, s, _ in batch])
        holes = torch.cat([hole[..., t : t + tile_h, s : s + tile_w] for t, s, _ in batch])
        filled = iterative_inpaint(generate, pixels * (1 - holes), holes, REFINE_ITERATIONS)
        for index, (top, left, window_hole) in enumerate(batch):
            window = result[..., top : top + tile_h, left : left + tile_w]
            new = filled.completed[index : index + 1]
            window.copy_(new * window_hole + window * (1 - window_hole))
    return result


def _tiles_with_hole_in_core(hole: torch.Tensor, tile_h: int, tile_w: int) -> list[tuple[int, int]]:
    """(top, left) of the tiles whose core holds a hole pixel, found from box sums of an
    integral image rather than by visiting the thousands of tiles of a large crop."""
    height, width = hole.shape[-2:]
    tops = torch.tensor(_tile_starts(height, tile_h))
    lefts = torch.tensor(_tile_starts(width, tile_w))
    core_top, core_bottom = _core_span(tops, tile_h, height)
    core_left, core_right = _core_span(lefts, tile_w, width)
    counts = F.pad((hole[0, 0] > 0).cpu().long().cumsum(0).cumsum(1), (1, 0, 1, 0))
    top_rows, bottom_rows = counts[core_top], counts[core_bottom]
    in_core = (
        bottom_rows[:, core_right]
        - top_rows[:, core_right]
        - bottom_rows[:, core_left]
        + top_rows[:, core_left]
    )
    return [(int(tops[i]), int(lefts[j])) for i, j in (in_core > 0).nonzero().tolist()]


def _tile_starts(size: int, tile: int) -> list[int]:
    step = max(1, tile - 2 * REFINE_TILE_MARGIN)
    starts = list(range(0, max(1, size - tile + 1), step))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def _core_span(starts: torch.Tensor, tile: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[begin, end) of the cores of tiles starting at `starts` along one axis: the tile less
    its edge margin on each side, except where that edge is the image's."""
    begin = starts + (starts > 0) * REFINE_TILE_MARGIN
    end = starts + tile - (starts + tile < size) * REFINE_TILE_MARGIN
    return begin, end


def _core(
    top: int, left: int, tile_h: int, tile_w: int, height: int, width: int, like: torch.Tensor
) -> torch.Tensor:
    """1 on the tile's core (its edge margin excluded unless the edge is the image's)."""
    core = torch.zeros((1, 1, tile_h, tile_w), dtype=like.dtype, device=like.device)
    y0, y1 = (int(v) - top for v in _core_span(torch.tensor(top), tile_h, height))
    x0, x1 = (int(v) - left for v in _core_span(torch.tensor(left), tile_w, width))
    core[..., y0:y1, x0:x1] = 1
    return core
