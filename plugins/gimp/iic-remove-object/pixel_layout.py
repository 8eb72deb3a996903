"""Byte and format logic between GIMP's Gegl buffers and the daemon's wire format.

Standard library only, and nothing of GIMP: the plug-in's GIMP wrappers ask this module which
Babl format to read a drawable in, then hand the bytes to `iic_client` unchanged. Every
conversion (depth, colour model, alpha) is left to GEGL, which does it in C.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass

# Wire dtype per GIMP precision prefix (`Gimp.Precision.value_nick` is "u8-non-linear",
# "float-linear", ...), and the Babl component type GEGL converts to for that dtype.
# The wire has no 32-bit integer or double: 16 bits and float32 carry more than a fill needs.
_DTYPE_FOR_PRECISION: dict[str, str] = {
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint16",
    "half": "float16",
    "float": "float32",
    "double": "float32",
}
_BABL_COMPONENT: dict[str, str] = {
    "uint8": "u8",
    "uint16": "u16",
    "float16": "half",
    "float32": "float",
}
BYTES_PER_COMPONENT: dict[str, int] = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4}

# The network was trained on sRGB-encoded photographs, so pixels always travel in the
# perceptual (primed) Babl models, even for linear-light images; GEGL converts both ways.
_BABL_MODEL: dict[tuple[str, bool], str] = {
    ("rgb", False): "R'G'B'",
    ("rgb", True): "R'G'B'A",
    ("grey", False): "Y'",
    ("grey", True): "Y'A",
}
# Selection and channels are masks stored in linear light; "Y u8" gives their 0..255 values.
MASK_BABL_FORMAT = "Y u8"
# The daemon's confidence map is H×W uint8 (0..255 for 0..1); in the perceptual model an
# 8-bit image stores those values unchanged, so the layer reads as the numbers it holds.
CONFIDENCE_BABL_FORMAT = "Y' u8"


class LayoutError(ValueError):
    """The pixels cannot travel as they are; the message says what to do."""


@dataclass(frozen=True)
class PixelLayout:
    """How one drawable's pixels travel: colour model, alpha and wire dtype."""

    model: str  # "rgb" | "grey"
    has_alpha: bool
    dtype: str  # wire dtype: "uint8" | "uint16" | "float16" | "float32"

    @property
    def channels(self) -> int:
        return (3 if self.model == "rgb" else 1) + int(self.has_alpha)

    @property
    def babl_format(self) -> str:
        """The Babl format name that GEGL reads and writes these wire bytes in."""
        return f"{_BABL_MODEL[(self.model, self.has_alpha)]} {_BABL_COMPONENT[self.dtype]}"

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * BYTES_PER_COMPONENT[self.dtype]

    def frame_size(self, width: int, height: int) -> int:
        return width * height * self.bytes_per_pixel


def layout_for(base_type: str, precision: str, has_alpha: bool) -> PixelLayout:
    """The layout for a drawable of an image with `base_type` ("rgb" | "gray" | "indexed",
    `Gimp.ImageBaseType.value_nick`) and `precision` (`Gimp.Precision.value_nick`)."""
    if base_type == "indexed":
        raise LayoutError(
            "Remove Object works on RGB and greyscale images, and this image is indexed. "
            "Convert it first with Image ▸ Mode ▸ RGB, then run Remove Object again."
        )
    if base_type not in ("rgb", "gray"):
        raise LayoutError(f"Remove Object does not know the image mode {base_type!r}.")
    component = precision.split("-", 1)[0]
    if component not in _DTYPE_FOR_PRECISION:
        raise LayoutError(f"Remove Object does not know the image precision {precision!r}.")
    model = "rgb" if base_type == "rgb" else "grey"
    return PixelLayout(model=model, has_alpha=has_alpha, dtype=_DTYPE_FOR_PRECISION[component])


def check_hole(hole: bytes, layer_name: str) -> None:
    """Refuse a selection that leaves the layer untouched (0 = keep, 255 = hole)."""
    if hole.count(0) == len(hole):
        raise LayoutError(
            f"The selection does not cover any pixel of the layer “{layer_name}”. Select the "
            "object to remove on this layer (or pick the layer it is on), then run Remove "
            "Object again."
        )


def native_to_wire(pixels: bytes, dtype: str) -> bytes:
    """GEGL gives native byte order; the wire is little-endian."""
    return _swap_if_big_endian(pixels, dtype)


def wire_to_native(pixels: bytes, dtype: str) -> bytes:
    """The daemon's little-endian bytes in the order GEGL expects."""
    return _swap_if_big_endian(pixels, dtype)


def _swap_if_big_endian(pixels: bytes, dtype: str) -> bytes:
    width = BYTES_PER_COMPONENT[dtype]
    if sys.byteorder == "little" or width == 1:
        return pixels
    words = array("H" if width == 2 else "I", pixels)
    words.byteswap()
    return words.tobytes()


def check_frame(pixels: bytes, layout: PixelLayout, width: int, height: int, what: str) -> None:
    """Fail loudly on a size mismatch rather than write a sheared layer."""
    expected = layout.frame_size(width, height)
    if len(pixels) != expected:
        raise LayoutError(
            f"{what}: got {len(pixels)} bytes for {width}×{height} {layout.babl_format}, "
            f"expected {expected}. The daemon and the plug-in disagree; reinstall the plug-in "
            "with the same IIC Inpaint version as the daemon (`iic-inpaint install-plugin gimp`)."
        )
