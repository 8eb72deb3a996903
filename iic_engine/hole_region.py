"""Crop-and-paste: work on the hole's bounding box plus context, never the whole photo.

A 24-megapixel photo with a 5 % hole is filled by converting, downscaling and upsampling
only that box, so cost and memory grow with the hole, not with the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iic_engine.networks.generator import SIZE_MULTIPLE

# Context kept on each side of the hole's box, relative to the box's longer side: enough
# surroundings for the generator to understand the scene around a large object.
CONTEXT_MARGIN_RATIO = 0.35
MIN_CONTEXT_MARGIN = 32


@dataclass(frozen=True)
class WorkRegion:
    """The crop in image coordinates, and how it is processed.

    The crop is padded to `padded_size` (divisible by 8·2^stages) so that every stage of
    the ×2 cascade has exact sizes; the generator runs at padded_size / 2^stages.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    stages: int
    padded_size: tuple[int, int]  # height, width

    @property
    def size(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def working_size(self) -> tuple[int, int]:
        return self.padded_size[0] >> self.stages, self.padded_size[1] >> self.stages

    def crop(self, array: np.ndarray) -> np.ndarray:
        return array[self.y0 : self.y1, self.x0 : self.x1]


def hole_bounding_box(hole: np.ndarray) -> tuple[int, int, int, int]:
    """hole: (H,W) bool, not empty → x0, y0, x1, y1 (exclusive)."""
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def plan_work_region(hole: np.ndarray, max_working_side: int) -> WorkRegion:
    height, width = hole.shape
    x0, y0, x1, y1 = hole_bounding_box(hole)
    margin = max(MIN_CONTEXT_MARGIN, math.ceil(CONTEXT_MARGIN_RATIO * max(x1 - x0, y1 - y0)))
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    stages = max(0, math.ceil(math.log2(max(x1 - x0, y1 - y0) / max_working_side)))
    multiple = SIZE_MULTIPLE << stages
    padded = (_round_up(y1 - y0, multiple), _round_up(x1 - x0, multiple))
    return WorkRegion(x0, y0, x1, y1, stages, padded)


def pad_to(region: WorkRegion, array: np.ndarray, mode: str = "symmetric") -> np.ndarray:
    """Pad a crop (h,w[,C]) at the bottom/right to region.padded_size."""
    pad_rows = region.padded_size[0] - array.shape[0]
    pad_cols = region.padded_size[1] - array.shape[1]
    widths = [(0, pad_rows), (0, pad_cols)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, widths, mode=mode)  # type: ignore[call-overload]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def paste_fill(
    image: np.ndarray,
    region: WorkRegion,
    fill: np.ndarray,
    hole_alpha: np.ndarray,
) -> np.ndarray:
    """Copy of `image` with crop pixels where hole_alpha > 0 replaced by
    alpha·fill + (1−alpha)·original; every other pixel is bit-identical.

    fill: (h,w,C) crop in the image's dtype, already blended; hole_alpha: (h,w) of the crop.
    """
    result = image.copy()
    target = region.crop(result)
    selected = hole_alpha > 0
    target.reshape(*selected.shape, -1)[selected] = fill.reshape(*selected.shape, -1)[selected]
    return result
