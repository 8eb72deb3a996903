"""What crosses the engine's public boundary: limits, progress events and the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_ITERATIONS = 4  # Algorithm 1's T at test time (§4.1)
# More only costs time: Algorithm 1 converges in a handful of iterations.
MAX_ITERATIONS = 16
# "patches": texture borrowed from the photo, guided by the network (patch_cascade.py);
# "learned": the paper's guided upsampler alone.
TEXTURES = ("patches", "learned")
DEFAULT_TEXTURE = "patches"
# Past this share of the layer selected, the fill still comes but says that little context
# was left to borrow from (a selection of all but a thin border gives a smear).
LITTLE_CONTEXT_SHARE = 0.6


@dataclass(frozen=True)
class EngineLimits:
    """Knobs the daemon and the tests may tighten.

    max_working_side: the working size's largest side: where Algorithm 1 runs for the
    learned path (trained at 256, valid up to 512) and the patch synthesis begins (whose
    generator runs at `generator_scale.GENERATOR_SIDE`).
    max_image_pixels: refuse larger images before touching them.
    """

    max_working_side: int = 512
    max_image_pixels: int = 250_000_000
    max_iterations: int = MAX_ITERATIONS


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
    # Candidate matches the patch synthesis weighed (0 for texture="learned"): the work
    # that must follow the hole, not the photo.
    candidate_evaluations: int = 0
    # Crops filled: one per group of separate objects (their crops do not overlap).
    regions: int = 1


@dataclass(frozen=True)
class ConfidencePiece:
    """The confidence of one crop: `confidence` on `box` (rows, columns) of the image, read
    only where `hole` (the box's shape, bool) is set."""

    box: tuple[slice, slice]
    hole: np.ndarray
    confidence: np.ndarray


class RemovalResult:
    """image: same shape and dtype as the input; confidence: (H,W) float32, 1 outside the hole.

    The confidence map is built on first access from the crops' pieces: most callers never
    read it, and a full-size float map of a 24-megapixel photo costs 96 MB and a tenth of
    a second to allocate.
    """

    def __init__(
        self, image: np.ndarray, stats: RemovalStats, pieces: list[ConfidencePiece] | None = None
    ) -> None:
        self.image = image
        self.stats = stats
        self._pieces = pieces or []
        self._confidence: np.ndarray | None = None

    @property
    def confidence(self) -> np.ndarray:
        if self._confidence is None:
            confidence = np.ones(self.image.shape[:2], dtype=np.float32)
            for piece in self._pieces:
                confidence[piece.box][piece.hole] = piece.confidence[piece.hole]
            self._confidence = confidence
        return self._confidence


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
