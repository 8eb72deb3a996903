"""Crop-and-paste: work on the hole's bounding box plus context, never the whole photo.

A 24-megapixel photo with a 5 % hole is filled by converting, downscaling and upsampling
only that box, so cost and memory grow with the hole, not with the image. Separate objects
are filled in crops of their own: the hole's connected parts are grouped (parts whose
context boxes overlap share one crop), so two specks in opposite corners cost two small
crops, not the whole photo.
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
    return _region_around(hole_bounding_box(hole), hole.shape, max_working_side)


def plan_work_regions(hole: np.ndarray, max_working_side: int) -> list[WorkRegion]:
    """One region per group of the hole's connected parts; parts whose context boxes
    overlap are one group. The regions' crops do not overlap."""
    parts = _part_boxes(hole)
    if len(parts) > MAX_SEPARATE_PARTS:
        # Scattered specks all over the photo: one crop of them all is cheaper than
        # merging boxes pair by pair.
        return [plan_work_region(hole, max_working_side)]
    boxes = [_context_box(box, hole.shape) for box in parts]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if _overlap(boxes[i][1], boxes[j][1]):
                    union = _union(boxes[i][0], boxes[j][0])
                    boxes[i] = _context_box(union, hole.shape)
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [_region_around(box, hole.shape, max_working_side) for box, _ in boxes]


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

# The hole is grouped on a grid of cells this many pixels wide at least: parts in touching
# cells are one part, which changes nothing (they lie under 2 cells apart, so their context
# boxes, each at least a cell wider, overlap anyway). 8 px cells made the flood fill over
# them a fifth of a second on a 24 MP photo.
PART_CELL = MIN_CONTEXT_MARGIN
MAX_PART_CELLS = 250_000
MAX_SEPARATE_PARTS = 64


def _part_boxes(hole: np.ndarray) -> list[Box]:
    """Bounding boxes of the hole's 8-connected parts, found on a coarse cell grid."""
    height, width = hole.shape
    cell = max(PART_CELL, math.ceil(math.sqrt(height * width / MAX_PART_CELLS)))
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=bool)
    padded[:height, :width] = hole
    cells = np.asarray(padded.reshape(rows, cell, cols, cell).any(axis=(1, 3)), dtype=bool)
    labels = np.full(cells.shape, -1, dtype=np.int64)
    boxes: list[Box] = []
    for first_row, first_col in np.argwhere(cells):
        start = (int(first_row), int(first_col))
        if labels[start] >= 0:
            continue
        label = len(boxes)
        labels[start] = label
        stack, members = [start], []
        while stack:
            r, c = stack.pop()
            members.append((r, c))
            for nr in range(max(0, r - 1), min(rows, r + 2)):
                for nc in range(max(0, c - 1), min(cols, c + 2)):
                    if cells[nr, nc] and labels[nr, nc] < 0:
                        labels[nr, nc] = label
                        stack.append((nr, nc))
        part_rows = [r for r, _ in members]
        part_cols = [c for _, c in members]
        y0, y1 = min(part_rows) * cell, min(height, (max(part_rows) + 1) * cell)
        x0, x1 = min(part_cols) * cell, min(width, (max(part_cols) + 1) * cell)
        # Exact box of the hole pixels inside the cells.
        bx0, by0, bx1, by1 = hole_bounding_box(hole[y0:y1, x0:x1])
        boxes.append((x0 + bx0, y0 + by0, x0 + bx1, y0 + by1))
    return boxes


def _context_box(box: Box, shape: tuple[int, ...]) -> tuple[Box, Box]:
    """(hole box, the box with its context margin, clipped to the image)."""
    x0, y0, x1, y1 = box
    height, width = shape[0], shape[1]
    margin = max(MIN_CONTEXT_MARGIN, math.ceil(CONTEXT_MARGIN_RATIO * max(x1 - x0, y1 - y0)))
    context = (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(width, x1 + margin),
        min(height, y1 + margin),
    )
    return box, context


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _region_around(box: Box, shape: tuple[int, ...], max_working_side: int) -> WorkRegion:
    _, (x0, y0, x1, y1) = _context_box(box, shape)
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
    result: np.ndarray,
    region: WorkRegion,
    values: np.ndarray,
    selected: np.ndarray,
) -> None:
    """Write into `result` (a copy of the image) the crop pixels where `selected`, already
    blended as alpha·fill + (1−alpha)·original; every other pixel is untouched.

    values: (n,C) in the image's dtype, the selected pixels in row-major order;
    selected: (h,w) bool of the crop.
    """
    target = region.crop(result)
    target.reshape(*selected.shape, -1)[selected] = values.reshape(values.shape[0], -1)
