"""What travels with a photo's pixels: its colour profile, its EXIF, and which way is up.

Files are read upright (as every viewer shows them, EXIF orientation applied), so a mask drawn
on the photo in an editor lines up with it; the result is written upright with the EXIF
orientation reset to 1, so it displays exactly as the input did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112
UPRIGHT = 1
# EXIF orientation → the turn that shows the stored pixels upright (as Pillow's exif_transpose).
TURN_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda pixels: pixels[:, ::-1],
    3: lambda pixels: pixels[::-1, ::-1],
    4: lambda pixels: pixels[::-1],
    5: lambda pixels: pixels.swapaxes(0, 1),
    6: lambda pixels: np.rot90(pixels, -1),
    7: lambda pixels: pixels.swapaxes(0, 1)[::-1, ::-1],
    8: lambda pixels: np.rot90(pixels, 1),
}


@dataclass(frozen=True)
class PhotoMetadata:
    """icc_profile: the embedded ICC profile's bytes; exif: EXIF bytes ("Exif\\0\\0" + TIFF
    data) whose orientation says upright, or None where the file had none."""

    icc_profile: bytes | None = None
    exif: bytes | None = None


def read_metadata(picture: Image.Image) -> tuple[PhotoMetadata, int]:
    """The metadata to write with the result, and the file's EXIF orientation (1..8)."""
    orientation = int(picture.getexif().get(ORIENTATION_TAG, UPRIGHT))
    if orientation not in TURN_UPRIGHT:
        orientation = UPRIGHT
    exif = picture.info.get("exif")  # JPEG, PNG, WebP; a TIFF's tags are its own, not EXIF
    if exif and orientation != UPRIGHT:
        tags = Image.Exif()
        tags.load(exif)
        tags[ORIENTATION_TAG] = UPRIGHT
        exif = tags.tobytes()
    return PhotoMetadata(
        icc_profile=picture.info.get("icc_profile") or None, exif=exif
    ), orientation


def turn_upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """pixels (H,W[,C]) as stored → as shown; contiguous either way."""
    if orientation == UPRIGHT:
        return pixels
    return np.ascontiguousarray(TURN_UPRIGHT[orientation](pixels))
