"""16-bit and float pixels that Pillow cannot carry: reading 16-bit colour, writing deep PNG/TIFF.

Pillow decodes 16-bit RGB, RGBA and grey+alpha files only to 8 bits, and encodes 16-bit or
float pixels only as single-channel images. Reading decodes the file twice through Pillow's own
decoders (so every compression and PNG filter Pillow knows still works): once keeping each
sample's high byte, once its low byte. Writing encodes PNG (16-bit) and TIFF (16-bit or 32-bit
float) directly; both keep the ICC profile.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageFile

# Pillow's raw modes for 16-bit samples: big-endian, little-endian, this machine's order.
SIXTEEN_BIT_ORDERS = ("B", "L", "N")
DEEP_COLOUR_MODES = ("LA", "RGB", "RGBA")


def is_sixteen_bit_colour(picture: ImageFile.ImageFile) -> bool:
    """True for an opened, not yet loaded 16-bit grey+alpha, RGB or RGBA file."""
    rawmodes = [_rawmode(tile) for tile in picture.tile]
    return (
        picture.mode in DEEP_COLOUR_MODES
        and bool(rawmodes)
        and all(";16" in mode and mode[-1] in SIXTEEN_BIT_ORDERS for mode in rawmodes)
    )


def read_sixteen_bit_colour(path: Path) -> np.ndarray:
    """(H,W,C) uint16 of a file for which `is_sixteen_bit_colour` holds."""
    with Image.open(path) as picture:
        rawmode = _rawmode(picture.tile[0])
    if rawmode.startswith("LA;"):
        # Pillow opens 16-bit grey+alpha as RGBA; 8-bit "RGBA" copies a pixel's 4 bytes as
        # they are, which is both samples' bytes in one decode.
        sample_bytes = _decode(path, lambda _: "RGBA").astype(np.uint16)
        first, second = sample_bytes[..., 0::2], sample_bytes[..., 1::2]
        big_endian = _byte_order(rawmode) == "B"
        return (first << 8) | second if big_endian else (second << 8) | first
    high = _decode(path, lambda own: own).astype(np.uint16)
    # Pillow's ";16L" unpacker keeps a sample's second byte, ";16B" its first: naming the
    # other byte order keeps the byte the file's own order drops.
    low = _decode(path, _other_order).astype(np.uint16)
    return (high << 8) | low


def _decode(path: Path, rawmode_for: Callable[[str], str]) -> np.ndarray:
    with Image.open(path) as picture:
        picture.tile = [_with_rawmode(tile, rawmode_for(_rawmode(tile))) for tile in picture.tile]
        picture.load()
        return np.array(picture)


def _rawmode(tile: tuple) -> str:
    args = tile[3]
    return args if isinstance(args, str) else args[0]


def _byte_order(rawmode: str) -> str:
    """The byte order, B(ig) or L(ittle), of a 16-bit raw mode."""
    order = rawmode[-1]
    if order == "N":
        return "L" if sys.byteorder == "little" else "B"
    return order


def _other_order(rawmode: str) -> str:
    return rawmode[:-1] + ("B" if _byte_order(rawmode) == "L" else "L")


def _with_rawmode(tile: tuple, rawmode: str) -> Any:  # a Pillow tile, whichever its type
    args = tile[3]
    new_args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    if hasattr(tile, "_replace"):  # Pillow ≥ 11 tiles are named tuples
        return tile._replace(args=new_args)
    return (tile[0], tile[1], tile[2], new_args)


# --- PNG (16-bit) ---------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → grey, grey+alpha, RGB, RGBA
PNG_FILTER_UP = 2  # each row minus the row above: cheap, and photos compress better with it
PNG_ICC_NAME = b"ICC profile"
EXIF_JPEG_PREFIX = b"Exif\x00\x00"


def write_png_16(
    file: str | Path, pixels: np.ndarray, icc_profile: bytes | None, exif: bytes | None
) -> None:
    """pixels (H,W) or (H,W,C) uint16, C ∈ {1,2,3,4}."""
    assert pixels.dtype == np.uint16
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(height, -1)
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as PNG's filters do
    scanlines = np.empty((height, 1 + filtered.shape[1]), np.uint8)
    scanlines[:, 0] = PNG_FILTER_UP
    scanlines[:, 1:] = filtered
    header = struct.pack(">IIBBBBB", width, height, 16, PNG_COLOUR_TYPES[channels], 0, 0, 0)
    chunks = [(b"IHDR", header)]
    if icc_profile:
        chunks.append((b"iCCP", PNG_ICC_NAME + b"\x00\x00" + zlib.compress(icc_profile)))
    if exif:
        chunks.append((b"eXIf", exif.removeprefix(EXIF_JPEG_PREFIX)))
    chunks += [(b"IDAT", zlib.compress(scanlines.tobytes(), 6)), (b"IEND", b"")]
    with open(file, "wb") as out:
        out.write(PNG_SIGNATURE)
        for kind, data in chunks:
            out.write(struct.pack(">I", len(data)) + kind + data)
            out.write(struct.pack(">I", zlib.crc32(kind + data)))


# --- TIFF (16-bit or 32-bit float) ----------------------------------------------------------

TIFF_SHORT, TIFF_LONG, TIFF_UNDEFINED = 3, 4, 7
TIFF_TYPE_FORMAT = {TIFF_SHORT: "H", TIFF_LONG: "I", TIFF_UNDEFINED: "B"}
TIFF_DEFLATE = 8
TIFF_SAMPLE_FORMAT = {np.dtype(np.uint16): 1, np.dtype(np.float32): 3}  # unsigned int, float
TIFF_UNASSOCIATED_ALPHA = 2
TIFF_ROWS_PER_STRIP = 64  # strips of a few hundred KB: what readers expect, not one huge one


def write_tiff_deep(file: str | Path, pixels: np.ndarray, icc_profile: bytes | None) -> None:
    """pixels (H,W) or (H,W,C) uint16 or float32, C ∈ {1,2,3,4}; deflate-compressed."""
    assert pixels.dtype in TIFF_SAMPLE_FORMAT
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<"))
    rows = rows.view(np.uint8).reshape(height, -1)
    strips = [
        zlib.compress(rows[top : top + TIFF_ROWS_PER_STRIP].tobytes(), 6)
        for top in range(0, height, TIFF_ROWS_PER_STRIP)
    ]
    first_strip = 8
    offsets = list(np.cumsum([first_strip] + [len(strip) for strip in strips[:-1]]))
    entries: list[tuple[int, int, list[int] | bytes]] = [
        (256, TIFF_LONG, [width]),
        (257, TIFF_LONG, [height]),
        (258, TIFF_SHORT, [pixels.dtype.itemsize * 8] * channels),
        (259, TIFF_SHORT, [TIFF_DEFLATE]),
        (262, TIFF_SHORT, [2 if channels >= 3 else 1]),  # RGB or grey (black is zero)
        (273, TIFF_LONG, [int(offset) for offset in offsets]),
        (277, TIFF_SHORT, [channels]),
        (278, TIFF_LONG, [TIFF_ROWS_PER_STRIP]),
        (279, TIFF_LONG, [len(strip) for strip in strips]),
        (284, TIFF_SHORT, [1]),  # samples interleaved
    ]
    if channels in (2, 4):
        entries.append((338, TIFF_SHORT, [TIFF_UNASSOCIATED_ALPHA]))
    entries.append((339, TIFF_SHORT, [TIFF_SAMPLE_FORMAT[pixels.dtype]] * channels))
    if icc_profile:
        entries.append((34675, TIFF_UNDEFINED, icc_profile))
    body = b"".join(strips)
    with open(file, "wb") as out:
        out.write(b"II*\x00" + struct.pack("<I", 0))  # IFD offset patched below
        out.write(body)
        out.write(b"\x00" * (len(body) % 2))
        _write_ifd(out, entries)


def _write_ifd(out: BinaryIO, entries: list[tuple[int, int, list[int] | bytes]]) -> None:
    """Values longer than 4 bytes go before the IFD; the header's IFD offset is patched."""
    inline_entries = []
    for tag, kind, values in entries:
        data = (
            values
            if isinstance(values, bytes)
            else struct.pack(f"<{len(values)}{TIFF_TYPE_FORMAT[kind]}", *values)
        )
        count = len(values)
        if len(data) <= 4:
            inline_entries.append((tag, kind, count, data.ljust(4, b"\x00")))
        else:
            offset = out.tell()
            out.write(data + b"\x00" * (len(data) % 2))
            inline_entries.append((tag, kind, count, struct.pack("<I", offset)))
    ifd_offset = out.tell()
    out.write(struct.pack("<H", len(inline_entries)))
    for tag, kind, count, field in inline_entries:
        out.write(struct.pack("<HHI", tag, kind, count) + field)
    out.write(struct.pack("<I", 0))  # no further image
    out.seek(4)
    out.write(struct.pack("<I", ifd_offset))
