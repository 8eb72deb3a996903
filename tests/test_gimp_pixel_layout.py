"""The GIMP plug-in's byte and format rules (plugins/gimp/iic-remove-object/pixel_layout.py).

Standard library code, so it runs on the host; tests/test_gimp_plugin.py checks the same
rules end to end in real GIMP for u8, u16, half, float and grey images.
"""

from __future__ import annotations

import sys
from array import array
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins/gimp/iic-remove-object"))

import pixel_layout  # noqa: E402

from iic_client.protocol import DTYPE_ITEMSIZE  # noqa: E402


@pytest.mark.parametrize(
    ("precision", "dtype", "component"),
    [
        ("u8-non-linear", "uint8", "u8"),
        ("u8-linear", "uint8", "u8"),
        ("u16-perceptual", "uint16", "u16"),
        ("u32-linear", "uint16", "u16"),
        ("half-linear", "float16", "half"),
        ("float-non-linear", "float32", "float"),
        ("double-linear", "float32", "float"),
    ],
)
def test_every_gimp_precision_travels_in_a_wire_dtype(
    precision: str, dtype: str, component: str
) -> None:
    layout = pixel_layout.layout_for("rgb", precision, has_alpha=True)
    assert layout.dtype == dtype and dtype in DTYPE_ITEMSIZE
    assert layout.babl_format == f"R'G'B'A {component}"
    assert layout.bytes_per_pixel == 4 * DTYPE_ITEMSIZE[dtype]


@pytest.mark.parametrize(
    ("base_type", "has_alpha", "channels", "model"),
    [("rgb", False, 3, "R'G'B'"), ("rgb", True, 4, "R'G'B'A"), ("gray", False, 1, "Y'")]
    + [("gray", True, 2, "Y'A")],
)
def test_channels_follow_the_image_mode_and_the_layers_alpha(
    base_type: str, has_alpha: bool, channels: int, model: str
) -> None:
    layout = pixel_layout.layout_for(base_type, "u8-non-linear", has_alpha)
    assert layout.channels == channels
    assert layout.babl_format == f"{model} u8"
    assert layout.frame_size(5, 3) == 15 * channels


def test_indexed_images_are_refused_with_what_to_do() -> None:
    with pytest.raises(pixel_layout.LayoutError, match=r"indexed.*Image ▸ Mode ▸ RGB"):
        pixel_layout.layout_for("indexed", "u8-non-linear", has_alpha=False)


def test_a_selection_beside_the_layer_is_refused_naming_the_layer() -> None:
    with pytest.raises(pixel_layout.LayoutError, match="“Sky”"):
        pixel_layout.check_hole(bytes(12), "Sky")
    pixel_layout.check_hole(bytes(11) + b"\x01", "Sky")


def test_wire_bytes_are_little_endian_whatever_the_machine() -> None:
    native = array("H", [1, 0x0203]).tobytes()
    wire = pixel_layout.native_to_wire(native, "uint16")
    assert wire == b"\x01\x00\x03\x02"
    assert pixel_layout.wire_to_native(wire, "uint16") == native


def test_a_result_of_the_wrong_size_is_refused() -> None:
    layout = pixel_layout.layout_for("rgb", "u16-linear", has_alpha=False)
    pixel_layout.check_frame(bytes(6 * 4), layout, 2, 2, "the result")
    with pytest.raises(pixel_layout.LayoutError, match="the result: got 23 bytes"):
        pixel_layout.check_frame(bytes(23), layout, 2, 2, "the result")
