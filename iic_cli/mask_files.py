"""Masks read from files: white = fill, and what their grey levels mean.

A mask file's grey levels are cut at half (below 50 % = keep) unless the user asks for soft
edges: a mask saved as JPEG carries noise of a few levels around black, and the engine fills
every pixel above 0, so that noise alone would select the whole photo. Editor selections
reach the engine through the plug-ins, not through here, and keep their soft edges exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from iic_cli.image_files import DEFAULT_MAX_PIXELS, open_picture
from iic_cli.photo_metadata import read_metadata, turn_upright

MASK_MAX = 255
FILL_FROM = 128  # 0..127 (below 50 %) keep, 128..255 fill
SIXTEEN_BIT_MAX = 65535
ALPHA_MODES = ("LA", "RGBA", "PA")


def read_mask(
    path: Path, *, soft_edges: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """(H,W) uint8, 255 = fill, upright as the photo is read. Only 0 and 255 unless
    soft_edges, where grey levels are the selection's alpha as stored."""
    with open_picture(path, max_pixels) as picture:
        _, orientation = read_metadata(picture)
        alpha = turn_upright(_alpha_levels(picture), orientation)
    if soft_edges:
        return alpha
    # Multiplied in uint8: np.where with Python ints builds an int64 copy (0.4 s at 24 MP).
    return (alpha >= FILL_FROM).astype(np.uint8) * np.uint8(MASK_MAX)


def _alpha_levels(picture: Image.Image) -> np.ndarray:
    """(H,W) uint8 0..255 selection alpha of an opened mask file."""
    if picture.mode in ALPHA_MODES:
        alpha = np.array(picture.getchannel("A"))
        if alpha.min() < MASK_MAX:  # a transparent-background mask: the opaque part is selected
            return alpha
    if picture.mode.startswith("I;16"):
        levels = np.array(picture).astype(np.float32) * (MASK_MAX / SIXTEEN_BIT_MAX)
        return np.rint(levels).astype(np.uint8)
    if picture.mode == "F":
        levels = np.clip(np.array(picture), 0.0, 1.0) * MASK_MAX
        return np.rint(levels).astype(np.uint8)
    return np.array(picture.convert("L"))
