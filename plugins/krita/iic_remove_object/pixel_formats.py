"""Krita pixel layouts <-> the daemon's wire format, with the standard library only.

Krita hands out pixels in the layer's own colour space and channel order: RGBA at U8 and
U16 is stored B, G, R, A (KoBgrU8Traits / KoBgrU16Traits), RGBA at F16 and F32 is R, G,
B, A, greyscale is Grey, Alpha. The wire wants interleaved R, G, B, A (or Grey, Alpha) in
little-endian, so only the two integer RGBA depths need their channels swapped; the
sample values themselves are sent at the layer's own depth, never converted.

Nothing here imports Krita, Qt or numpy: the module is tested on its own and shared by
every Krita code path that touches bytes.
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass

# Krita's QByteArrays hold samples in the machine's byte order; the wire is little-endian.
assert sys.byteorder == "little", "IIC Inpaint's Krita plug-in supports little-endian machines"

SELECTED = 255  # a selection byte: 0 = not selected .. 255 = fully selected

_DEPTHS: dict[str, tuple[str, int, str]] = {
    # Krita depth: (wire dtype, bytes per sample, struct code)
    "U8": ("uint8", 1, "B"),
    "U16": ("uint16", 2, "H"),
    "F16": ("float16", 2, "e"),
    "F32": ("float32", 4, "f"),
}
_MODELS: dict[str, int] = {"RGBA": 4, "GRAYA": 2}
_BGR_DEPTHS = frozenset({"U8", "U16"})


class UnsupportedPixelFormat(ValueError):
    """A colour model or depth the daemon cannot take; the message says what to do."""


@dataclass(frozen=True)
class PixelFormat:
    """How one Krita colour space lays out a pixel."""

    color_model: str  # "RGBA" | "GRAYA"
    color_depth: str  # "U8" | "U16" | "F16" | "F32"
    channels: int
    bytes_per_sample: int
    wire_dtype: str
    struct_code: str
    swap_red_blue: bool  # Krita stores B, G, R, A at this depth

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * self.bytes_per_sample

    @property
    def opaque_alpha(self) -> float:
        return 65535.0 if self.color_depth == "U16" else 255.0 if self.color_depth == "U8" else 1.0


def pixel_format(color_model: str, color_depth: str) -> PixelFormat:
    """The layout of a layer in `color_model`/`color_depth`, or UnsupportedPixelFormat."""
    if color_model not in _MODELS:
        raise UnsupportedPixelFormat(
            f"Remove object works on RGB and greyscale layers; this layer is {color_model}. "
            "Convert a copy of the image to RGB (Image ▸ Convert Image Color Space) "
            "and run it there."
        )
    if color_depth not in _DEPTHS:
        raise UnsupportedPixelFormat(
            f"Remove object does not support {color_depth} channels. Convert a copy of the image "
            "to 8-bit, 16-bit or 32-bit float and run it there."
        )
    wire_dtype, bytes_per_sample, struct_code = _DEPTHS[color_depth]
    return PixelFormat(
        color_model=color_model,
        color_depth=color_depth,
        channels=_MODELS[color_model],
        bytes_per_sample=bytes_per_sample,
        wire_dtype=wire_dtype,
        struct_code=struct_code,
        swap_red_blue=color_model == "RGBA" and color_depth in _BGR_DEPTHS,
    )


def krita_to_wire(fmt: PixelFormat, pixels: bytes) -> bytes:
    """Krita's channel order -> R, G, B, A (or Grey, Alpha); the same size."""
    return _swap_red_blue(fmt, pixels) if fmt.swap_red_blue else bytes(pixels)


def wire_to_krita(fmt: PixelFormat, pixels: bytes) -> bytes:
    """R, G, B, A (or Grey, Alpha) -> Krita's channel order; the same size."""
    return _swap_red_blue(fmt, pixels) if fmt.swap_red_blue else bytes(pixels)


def _swap_red_blue(fmt: PixelFormat, pixels: bytes) -> bytes:
    # Strided slice assignment moves every pixel's byte k at C speed: channel 0 <-> channel 2.
    swapped = bytearray(pixels)
    stride, size = fmt.bytes_per_pixel, fmt.bytes_per_sample
    for k in range(size):
        swapped[k::stride] = pixels[2 * size + k :: stride]
        swapped[2 * size + k :: stride] = pixels[k::stride]
    return bytes(swapped)


def hole_from_selection(selection: bytes) -> bytes:
    """Every selected pixel, however softly, is a hole pixel (255); the rest stay 0.

    The daemon fills any pixel > 0; sending the hole hard and applying the soft selection as
    the new layer's alpha (see `fill_inside_selection`) blends the fill with the user's pixels
    exactly once, on the canvas."""
    return selection.translate(_HARD_HOLE)


_HARD_HOLE = bytes([0] + [SELECTED] * 255)


def fill_inside_selection(fmt: PixelFormat, filled: bytes, selection: bytes) -> bytes:
    """The new layer's pixels: `filled` (Krita order) where selected, transparent elsewhere.

    A soft selection scales the alpha channel, so the layer over the untouched source shows
    selection × fill + (1 − selection) × source."""
    bpp = fmt.bytes_per_pixel
    assert len(filled) == len(selection) * bpp, "filled pixels and selection differ in size"
    layer = bytearray(len(filled))
    for run in _SELECTED_RUNS.finditer(selection):
        start, end = run.start() * bpp, run.end() * bpp
        layer[start:end] = filled[start:end]
        if run.group()[0] != SELECTED:
            _scale_alpha(fmt, layer, run.start(), run.group())
    return bytes(layer)


_SELECTED_RUNS = re.compile(rb"\xff+|[\x01-\xfe]+")


def _scale_alpha(fmt: PixelFormat, layer: bytearray, first_pixel: int, weights: bytes) -> None:
    alpha_offset = (fmt.channels - 1) * fmt.bytes_per_sample
    code = "<" + fmt.struct_code
    integer = fmt.color_depth in ("U8", "U16")
    for i, weight in enumerate(weights):
        at = (first_pixel + i) * fmt.bytes_per_pixel + alpha_offset
        (alpha,) = struct.unpack_from(code, layer, at)
        scaled = alpha * weight / SELECTED
        struct.pack_into(code, layer, at, round(scaled) if integer else scaled)


def confidence_layer_pixels(fmt: PixelFormat, confidence: bytes, hole: bytes) -> bytes:
    """A grey picture of the engine's confidence (white = sure, black = unsure) inside the hole,
    transparent outside, in the layer's own format.

    `confidence` is one byte per pixel, 255 = fully confident, as the daemon sends it; `hole`
    is 0 or 255 per pixel (`hole_from_selection`). Every byte of the layer is a function of one
    input byte, so each is written with bytes.translate and a strided slice, at C speed."""
    assert len(confidence) == len(hole), "confidence and hole differ in size"
    grey = _inside_hole(confidence, hole)
    grey_samples = [_sample_bytes(fmt, level * fmt.opaque_alpha / SELECTED) for level in range(256)]
    opaque = _sample_bytes(fmt, fmt.opaque_alpha)
    stride, size = fmt.bytes_per_pixel, fmt.bytes_per_sample
    alpha_offset = (fmt.channels - 1) * size
    layer = bytearray(len(hole) * stride)
    for k in range(size):
        grey_byte_k = grey.translate(bytes(sample[k] for sample in grey_samples))
        for colour_offset in range(0, alpha_offset, size):
            layer[colour_offset + k :: stride] = grey_byte_k
        layer[alpha_offset + k :: stride] = hole.translate(bytes([0] + [opaque[k]] * 255))
    return bytes(layer)


def _sample_bytes(fmt: PixelFormat, value: float) -> bytes:
    integer = fmt.color_depth in ("U8", "U16")
    return struct.pack("<" + fmt.struct_code, round(value) if integer else value)


def _inside_hole(values: bytes, hole: bytes) -> bytes:
    # Hole bytes are 0 or 255, so a bitwise AND keeps the values inside and zeroes the rest.
    kept = int.from_bytes(values, "little") & int.from_bytes(hole, "little")
    return kept.to_bytes(len(values), "little")
