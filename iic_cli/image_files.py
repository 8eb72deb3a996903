"""Reading and writing image and mask files for the CLI (Pillow), with clear errors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# Pillow modes that map directly onto the engine's layouts.
DIRECT_MODES = {"L", "LA", "RGB", "RGBA", "I;16", "F"}


class ImageFileError(Exception):
    """A file that cannot be read or written; the message says what to do."""


def read_image(path: Path) -> np.ndarray:
    """(H,W) or (H,W,C) array: uint8, uint16 (16-bit grey) or float32 (32-bit float grey)."""
    with _open(path) as picture:
        if picture.mode not in DIRECT_MODES:
            # Palette, CMYK, 32-bit integer...: converted on a copy, the file is untouched.
            has_alpha = "A" in picture.getbands() or "transparency" in picture.info
            picture = picture.convert("RGBA" if has_alpha else "RGB")
        return np.array(picture)


def read_mask(path: Path) -> np.ndarray:
    """(H,W) uint8, 255 = fill; grey levels are soft-selection alpha."""
    with _open(path) as picture:
        if picture.mode in ("LA", "RGBA", "PA") and picture.getextrema()[-1][0] < 255:
            # A transparent-background mask: the opaque part is the selection.
            return np.array(picture.getchannel("A"))
        return np.array(picture.convert("L"))


def write_image(path: Path, pixels: np.ndarray) -> None:
    """Atomically write; the format comes from the suffix. 16-bit colour and float images
    are written as 8-bit (Pillow cannot encode them), grey 16-bit stays 16-bit."""
    picture = _to_pillow(pixels)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg") and picture.mode in ("RGBA", "LA"):
        picture = picture.convert(picture.mode[:-1] if picture.mode == "LA" else "RGB")
    handle, temporary = tempfile.mkstemp(dir=path.parent or Path("."), suffix=suffix)
    os.close(handle)
    try:
        picture.save(temporary, format=Image.registered_extensions().get(suffix))
        os.replace(temporary, path)
    except (ValueError, OSError, KeyError) as error:
        raise ImageFileError(
            f"Could not write {path}: {error}. Use a .png, .jpg or .tif name."
        ) from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _open(path: Path) -> Image.Image:
    try:
        picture = Image.open(path)
        picture.load()
        return picture
    except FileNotFoundError:
        raise ImageFileError(f"{path} does not exist.") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ImageFileError(f"{path} is not a readable image ({error}).") from None


def _to_pillow(pixels: np.ndarray) -> Image.Image:
    if pixels.dtype == np.uint16 and pixels.ndim == 2:
        return Image.fromarray(pixels)
    if pixels.dtype == np.float32 and pixels.ndim == 2:
        return Image.fromarray(pixels, mode="F")
    if pixels.dtype != np.uint8:
        scale = 255.0 / 65535.0 if pixels.dtype == np.uint16 else 255.0
        pixels = np.clip(np.rint(pixels.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    return Image.fromarray(pixels)
