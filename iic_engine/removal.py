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


class RemovalResult:
    """image: same shape and dtype as the input; confidence: (H,W) float32, 1 outside the hole.

    The confidence map is built on first access from the hole's crop: most callers never
    read it, and a full-size float map of a 24-megapixel photo costs 96 MB and a tenth of
    a second to allocate.
    """

    def __init__(
        self,
        image: np.ndarray,
        stats: RemovalStats,
        hole_confidence: np.ndarray | None = None,
        hole_box: tuple[slice, slice] | None = None,
        hole_region: np.ndarray | None = None,
    ) -> None:
        """hole_confidence: the map on `hole_box` (rows, columns) of the image, read only
        where `hole_region` (the box's shape, bool) is set; None when nothing was filled."""
        self.image = image
        self.stats = stats
        self._hole_confidence = hole_confidence
        self._hole_box = hole_box
        self._hole_region = hole_region
        self._confidence: np.ndarray | None = None

    @property
    def confidence(self) -> np.ndarray:
        if self._confidence is None:
            confidence = np.ones(self.image.shape[:2], dtype=np.float32)
            if self._hole_confidence is not None:
                assert self._hole_box is not None and self._hole_region is not None
                inside = self._hole_region
                confidence[self._hole_box][inside] = self._hole_confidence[inside]
            self._confidence = confidence
        return self._confidence


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
