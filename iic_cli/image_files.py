"""Reading and writing photo files for the CLI (Pillow): the depth, colour profile and EXIF
are kept, and every refusal says what to do."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from iic_cli.deep_pixel_files import (
    is_sixteen_bit_colour,
    read_sixteen_bit_colour,
    write_png_16,
    write_tiff_deep,
)
from iic_cli.output_depth import fit_to_format
from iic_cli.photo_metadata import PhotoMetadata, read_metadata, turn_upright

# Pillow's decompression-bomb limit (twice Image.MAX_IMAGE_PIXELS), past which it refuses a
# file as possibly made to exhaust memory: 179 megapixels.
DEFAULT_MAX_PIXELS = 178_956_970
DEFAULT_QUALITY = 95  # JPEG: visually lossless for photos, where Pillow's own default is 75
# Pillow modes that map directly onto the engine's layouts.
DIRECT_MODES = {"L", "LA", "RGB", "RGBA", "F"}
SIXTEEN_BIT_GREY_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
UINT16_MAX = 65535
# Colour spaces whose conversion to RGB needs a colour-managed transform; a naive one shifts
# every colour, so they are refused rather than guessed.
REFUSED_MODES = {
    "CMYK": "a CMYK (print) file",
    "LAB": "in the Lab colour space",
}
EXIF_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})


class ImageFileError(Exception):
    """A file that cannot be read or written; the message says what to do."""


@dataclass(frozen=True)
class PhotoFile:
    """pixels (H,W) or (H,W,C) uint8, uint16 or float32, upright as viewers show the file."""

    pixels: np.ndarray
    metadata: PhotoMetadata = field(default_factory=PhotoMetadata)


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> PhotoFile:
    """The photo at its own depth: 8-bit, 16-bit (grey or colour) or 32-bit float (grey)."""
    with open_picture(path, max_pixels) as picture:
        pixels = _decode_pixels(path, picture)  # first: reading EXIF may decode a PNG
        metadata, orientation = read_metadata(picture)
    return PhotoFile(turn_upright(pixels, orientation), metadata)


def write_image(
    path: Path,
    pixels: np.ndarray,
    metadata: PhotoMetadata | None = None,
    quality: int = DEFAULT_QUALITY,
) -> list[str]:
    """Atomically write; the format comes from the suffix. Returns a note for each thing
    the format could not keep (depth, transparency)."""
    metadata = metadata or PhotoMetadata()
    format_name = Image.registered_extensions().get(path.suffix.lower())
    if format_name is None:
        raise ImageFileError(
            f"Could not write {path}: unknown file type. Use a .png, .jpg or .tif name."
        )
    pixels, notes = fit_to_format(pixels, format_name, path)
    handle, temporary = tempfile.mkstemp(dir=path.parent or Path("."), suffix=path.suffix)
    os.close(handle)
    try:
        if pixels.dtype == np.uint8:
            _save_with_pillow(temporary, pixels, format_name, metadata, quality)
        elif format_name == "PNG":
            write_png_16(temporary, pixels, metadata.icc_profile, metadata.exif)
        else:
            write_tiff_deep(temporary, pixels, metadata.icc_profile)
        os.replace(temporary, path)
    except (ValueError, OSError, KeyError) as error:
        raise ImageFileError(
            f"Could not write {path}: {error}. Use a .png, .jpg or .tif name."
        ) from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return notes


@contextmanager
def open_picture(path: Path, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """The file opened (header read, size checked against max_pixels); a file that turns out
    unreadable while decoding inside the block raises ImageFileError too."""
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # replaced by the check below, whose message names the flag
    try:
        with Image.open(path) as picture:
            _check_pixel_count(path, picture.size, max_pixels)
            yield picture
    except FileNotFoundError:
        raise ImageFileError(f"{path} does not exist.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageFileError(f"{path} is not a readable image ({error}).") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def _check_pixel_count(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageFileError(
            f"{path} is {width}×{height} ({width * height / 1e6:.0f} megapixels), more than the "
            f"limit of {max_pixels:,} pixels (by default Pillow's guard against "
            f"'decompression bomb' files made to exhaust memory, {DEFAULT_MAX_PIXELS:,}). If you "
            f"trust the file, raise the limit: --max-pixels {width * height}."
        )


def _decode_pixels(path: Path, picture: ImageFile.ImageFile) -> np.ndarray:
    if picture.mode in REFUSED_MODES:
        raise ImageFileError(
            f"{path} is {REFUSED_MODES[picture.mode]}. Its colours can only be turned into RGB "
            "correctly through its colour profile, and a naive conversion would shift them, so "
            "iic-inpaint does not guess. Convert a copy to RGB in your photo editor (keeping "
            "its profile) and remove the object from that copy."
        )
    if is_sixteen_bit_colour(picture):
        return read_sixteen_bit_colour(path)
    picture.load()
    if picture.mode in SIXTEEN_BIT_GREY_MODES:
        return np.array(picture).astype(np.uint16)
    if picture.mode == "I":
        return _integer_grey(path, np.array(picture))
    if picture.mode not in DIRECT_MODES:
        # Palette, 1-bit, 32-bit integer...: converted on a copy, the file is untouched.
        has_alpha = "A" in picture.getbands() or "transparency" in picture.info
        return np.array(picture.convert("RGBA" if has_alpha else "RGB"))
    return np.array(picture)


def _integer_grey(path: Path, values: np.ndarray) -> np.ndarray:
    """32-bit integer grey, as some Pillow versions open 16-bit grey PNGs: 16-bit if it fits."""
    if values.size and (values.min() < 0 or values.max() > UINT16_MAX):
        raise ImageFileError(
            f"{path} has 32-bit integer pixels beyond the 16-bit range, which would be clipped. "
            "Save it as a 16-bit or 32-bit float TIFF and try again."
        )
    return values.astype(np.uint16)


def _save_with_pillow(
    file: str, pixels: np.ndarray, format_name: str, metadata: PhotoMetadata, quality: int
) -> None:
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    options: dict[str, object] = {}
    if metadata.icc_profile:
        options["icc_profile"] = metadata.icc_profile
    if metadata.exif and format_name in EXIF_FORMATS:
        options["exif"] = metadata.exif
    if format_name == "JPEG":
        options["quality"] = quality
    Image.fromarray(pixels).save(file, format=format_name, **options)
