"""What crosses the engine's public boundary: limits, progress events and the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_ITERATIONS = 4  # Algorithm 1's T at test time (§4.1)


@dataclass(frozen=True)
class EngineLimits:
    """Knobs the daemon and the tests may tighten.

    max_working_side: the generator's largest input side (trained at 256, valid up to 512).
    max_image_pixels: refuse larger images before touching them.
    """

    max_working_side: int = 512
    max_image_pixels: int = 250_000_000
    max_iterations: int = 16


@dataclass(frozen=True)
class Progress:
    """stage: "prepare" | "iteration" | "upsampling" | "refine" | "done"; fraction in [0,1]."""

    stage: str
    fraction: float
    message: str


@dataclass(frozen=True)
class RemovalStats:
    crop_box: tuple[int, int, int, int]  # x, y, width, height of the region worked on
    working_size: tuple[int, int]  # width, height the generator ran at
    upsampling_stages: int
    iterations: int
    hole_pixels: int
    seconds: float
    device: str
    note: str = ""


@dataclass(frozen=True)
class RemovalResult:
    """image: same shape and dtype as the input; confidence: (H,W) float32, 1 outside the hole."""

    image: np.ndarray
    confidence: np.ndarray
    stats: RemovalStats


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
