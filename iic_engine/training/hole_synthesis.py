"""Training holes shaped like the things people remove (§3.1).

A hole is either one to three object silhouettes (random scale, rotation, flip, position)
or free-form brush strokes in the manner of Yu et al. 2019 (the paper's reference [40]),
mixed in a configurable ratio. For photos with a salient-object mask, a configurable share
of holes has the salient object subtracted: the "distractor behind the main subject" case.

Everything is drawn from the `numpy.random.Generator` passed in, so a seed fixes the hole.
Rasterised with NumPy alone: training runs where OpenCV is not installed (the GPU machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from iic_engine.training.config import HoleConfig

# Free-form strokes (Yu et al. 2019, supplementary algorithm): turning angle around 2π/5 ± 2π/15,
# segment length around an eighth of the image diagonal.
STROKE_MEAN_ANGLE = 2 * math.pi / 5
STROKE_ANGLE_RANGE = 2 * math.pi / 15
STROKE_REFERENCE_SIDE = 256
# Attempts at a salient-subtracted hole before falling back to the plain hole.
SUBTRACTION_ATTEMPTS = 4


@dataclass(frozen=True)
class ObjectMaskPool:
    """Object silhouettes, each a bool (h,w) array cropped to the object's box."""

    masks: tuple[np.ndarray, ...]

    @classmethod
    def load(cls, directory: str | Path) -> ObjectMaskPool:
        paths = sorted(Path(directory).glob("*.png"))
        if not paths:
            raise FileNotFoundError(f"No object masks (*.png) in {directory}")
        masks = tuple(np.asarray(Image.open(p).convert("L")) > 127 for p in paths)
        return cls(masks=masks)


def _place_object(
    rng: np.random.Generator,
    shape: np.ndarray,
    area_fraction: float,
    size: int,
    max_rotation: float,
) -> np.ndarray:
    """Scale the silhouette to cover `area_fraction` of a size×size image, rotate, flip, place."""
    if rng.random() < 0.5:
        shape = shape[:, ::-1]
    h, w = shape.shape
    scale = math.sqrt(area_fraction * size * size / max(int(shape.sum()), 1))
    angle = rng.uniform(-max_rotation, max_rotation)
    cos, sin = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    half_x = scale * (w * cos + h * sin) / 2
    half_y = scale * (w * sin + h * cos) / 2
    # The centre is drawn so the object lies inside the image whenever it fits.
    centre_x = rng.uniform(min(half_x, size - half_x), max(half_x, size - half_x))
    centre_y = rng.uniform(min(half_y, size - half_y), max(half_y, size - half_y))
    # Rotation by `angle` (degrees, counter-clockwise on screen) and scaling about the
    # silhouette's centre, which lands on (centre_x, centre_y).
    alpha, beta = scale * math.cos(math.radians(angle)), scale * math.sin(math.radians(angle))
    linear = np.array([[alpha, beta], [-beta, alpha]])
    offset = np.array([centre_x, centre_y]) - linear @ np.array([w / 2, h / 2])
    return _warp_bilinear(shape, linear, offset, size)


def _warp_bilinear(
    mask: np.ndarray, linear: np.ndarray, offset: np.ndarray, size: int
) -> np.ndarray:
    """The size×size image of `mask` under x ↦ linear·x + offset (x, y order, pixel centres
    at integers), bilinear, nothing outside, thresholded at one half."""
    inverse = np.linalg.inv(linear)
    # Pillow maps output pixel centres at +0.5 to input positions with centres at +0.5.
    shift = 0.5 - inverse @ (offset + 0.5)
    coefficients = (*inverse[0], shift[0], *inverse[1], shift[1])
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8) * 255)
    warped = image.transform(
        (size, size), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
    )
    return np.asarray(warped) > 127


def _stroke(rng: np.random.Generator, hole: np.ndarray, config: HoleConfig) -> None:
    """Draw one free-form stroke into `hole` (uint8, modified in place)."""
    size = hole.shape[0]
    zoom = size / STROKE_REFERENCE_SIDE
    vertices = int(
        rng.integers(config.stroke_vertices_range[0], config.stroke_vertices_range[1] + 1)
    )
    angle_low = STROKE_MEAN_ANGLE - rng.uniform(0, STROKE_ANGLE_RANGE)
    angle_high = STROKE_MEAN_ANGLE + rng.uniform(0, STROKE_ANGLE_RANGE)
    mean_length = math.sqrt(2) * size / 8
    width = max(1, round(rng.uniform(*config.stroke_width_range) * zoom))
    points = [(float(rng.uniform(0, size)), float(rng.uniform(0, size)))]
    for i in range(vertices):
        angle = rng.uniform(angle_low, angle_high)
        if i % 2 == 0:
            angle = 2 * math.pi - angle
        length = float(np.clip(rng.normal(mean_length, mean_length / 2), 0, 2 * mean_length))
        x, y = points[-1]
        points.append(
            (
                float(np.clip(x + length * math.cos(angle), 0, size - 1)),
                float(np.clip(y + length * math.sin(angle), 0, size - 1)),
            )
        )
    polyline = np.round(np.array(points))
    for start, end in zip(polyline[:-1], polyline[1:], strict=True):
        # Half a pixel past the nominal half-width: the cover of a thick line drawn by
        # OpenCV (the trainer's earlier brush), so the hole-size spread stays as tuned.
        _draw_capsule(hole, start, end, (width + 1) / 2)


def _draw_capsule(hole: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float) -> None:
    """Set the pixels within `radius` of the segment start–end (x, y): a brush stroke with
    round ends, so consecutive segments join without gaps."""
    low = np.maximum(np.floor(np.minimum(start, end) - radius), 0).astype(int)
    high = np.minimum(np.ceil(np.maximum(start, end) + radius) + 1, hole.shape[::-1]).astype(int)
    ys, xs = np.mgrid[low[1] : high[1], low[0] : high[0]].astype(np.float64)
    direction = end - start
    length_squared = float(direction @ direction)
    along = 0.0
    if length_squared > 0:
        along = np.clip(
            ((xs - start[0]) * direction[0] + (ys - start[1]) * direction[1]) / length_squared, 0, 1
        )
    distance_squared = (xs - start[0] - along * direction[0]) ** 2 + (
        ys - start[1] - along * direction[1]
    ) ** 2
    hole[low[1] : high[1], low[0] : high[0]] |= (distance_squared <= radius * radius).astype(
        hole.dtype
    )


class HoleSampler:
    """Draws training holes: `sample(rng, size, salient)` → (size,size) bool, True = hole."""

    def __init__(self, config: HoleConfig, pool: ObjectMaskPool) -> None:
        self.config = config
        self.pool = pool

    def object_hole(self, rng: np.random.Generator, size: int, target_ratio: float) -> np.ndarray:
        weights = np.asarray(self.config.object_count_weights, dtype=float)
        count = int(rng.choice(len(weights), p=weights / weights.sum())) + 1
        shares = rng.dirichlet(np.ones(count))
        hole = np.zeros((size, size), dtype=bool)
        for share in shares:
            shape = self.pool.masks[int(rng.integers(len(self.pool.masks)))]
            hole |= _place_object(
                rng, shape, target_ratio * share, size, self.config.max_rotation_degrees
            )
        return hole

    def stroke_hole(self, rng: np.random.Generator, size: int, target_ratio: float) -> np.ndarray:
        """Strokes are added until the target ratio is reached, which spreads ratios widely."""
        hole = np.zeros((size, size), dtype=np.uint8)
        for _ in range(self.config.max_strokes):
            _stroke(rng, hole, self.config)
            if hole.mean() >= target_ratio:
                break
        if rng.random() < 0.5:
            hole = hole[:, ::-1]
        if rng.random() < 0.5:
            hole = hole[::-1, :]
        return np.ascontiguousarray(hole, dtype=bool)

    def plain_hole(self, rng: np.random.Generator, size: int) -> np.ndarray:
        target_ratio = rng.uniform(*self.config.ratio_range)
        if rng.random() < self.config.object_share:
            hole = self.object_hole(rng, size, target_ratio)
        else:
            hole = self.stroke_hole(rng, size, target_ratio)
        if not hole.any():
            hole[size // 2, size // 2] = True
        return hole

    def sample(
        self, rng: np.random.Generator, size: int, salient: np.ndarray | None = None
    ) -> np.ndarray:
        """salient: (size,size) bool mask of the photo's main subject, or None."""
        subtract = salient is not None and rng.random() < self.config.salient_subtraction_share
        hole = self.plain_hole(rng, size)
        if not subtract:
            return hole
        assert salient is not None and salient.shape == hole.shape
        for _ in range(SUBTRACTION_ATTEMPTS):
            remaining = hole & ~salient
            if remaining.any():
                return remaining
            hole = self.plain_hole(rng, size)
        return hole


def hole_ratio(hole: np.ndarray) -> float:
    return float(np.asarray(hole, dtype=bool).mean())
