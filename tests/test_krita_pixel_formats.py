"""The Krita plug-in's byte-order and depth conversions (stdlib-only module, no Krita needed)."""

from __future__ import annotations

import numpy as np
import pytest
from krita_plugin_source import load_plugin_module

pf = load_plugin_module("pixel_formats")
NUMPY_DTYPES = {"U8": np.uint8, "U16": np.uint16, "F16": np.float16, "F32": np.float32}
RNG = np.random.default_rng(6)


def _samples(depth: str, shape: tuple[int, ...]) -> np.ndarray:
    if depth in ("U8", "U16"):
        top = 255 if depth == "U8" else 65535
        return RNG.integers(0, top + 1, shape).astype(NUMPY_DTYPES[depth])
    return RNG.random(shape).astype(NUMPY_DTYPES[depth])


@pytest.mark.parametrize("depth", ["U8", "U16", "F16", "F32"])
def test_rgba_round_trip_gives_rgb_order_on_the_wire(depth: str) -> None:
    fmt = pf.pixel_format("RGBA", depth)
    krita = _samples(depth, (5, 7, 4))
    wire = np.frombuffer(pf.krita_to_wire(fmt, krita.tobytes()), krita.dtype).reshape(krita.shape)
    # Krita stores integer RGBA as B, G, R, A and float RGBA as R, G, B, A.
    expected = krita[..., [2, 1, 0, 3]] if depth in ("U8", "U16") else krita
    np.testing.assert_array_equal(wire, expected)
    assert pf.wire_to_krita(fmt, wire.tobytes()) == krita.tobytes()
    assert fmt.wire_dtype == np.dtype(NUMPY_DTYPES[depth]).name


def test_grey_is_sent_as_it_is() -> None:
    fmt = pf.pixel_format("GRAYA", "U16")
    grey = _samples("U16", (3, 4, 2)).tobytes()
    assert fmt.channels == 2 and pf.krita_to_wire(fmt, grey) == grey


@pytest.mark.parametrize(
    ("model", "depth", "words"),
    [("CMYKA", "U8", "CMYKA"), ("LABA", "U16", "LABA"), ("RGBA", "F64", "F64")],
)
def test_unsupported_colour_spaces_are_refused_with_advice(
    model: str, depth: str, words: str
) -> None:
    with pytest.raises(pf.UnsupportedPixelFormat, match=words) as refusal:
        pf.pixel_format(model, depth)
    assert "Convert a copy" in str(refusal.value)


def test_any_selected_pixel_is_a_hole_pixel() -> None:
    assert pf.hole_from_selection(bytes([0, 1, 128, 254, 255])) == bytes([0, 255, 255, 255, 255])


@pytest.mark.parametrize("depth", ["U8", "U16", "F16", "F32"])
def test_fill_keeps_selected_pixels_scales_soft_ones_and_clears_the_rest(depth: str) -> None:
    fmt = pf.pixel_format("RGBA", depth)
    filled = _samples(depth, (1, 6, 4))
    filled[..., 3] = fmt.opaque_alpha
    selection = bytes([0, 255, 255, 51, 0, 204])
    layer = np.frombuffer(pf.fill_inside_selection(fmt, filled.tobytes(), selection), filled.dtype)
    layer = layer.reshape(filled.shape)
    weight = np.frombuffer(selection, np.uint8) / 255.0
    np.testing.assert_array_equal(layer[0, weight > 0, :3], filled[0, weight > 0, :3])
    assert not layer[0, weight == 0].any()
    np.testing.assert_allclose(
        layer[0, :, 3].astype(np.float64), weight * fmt.opaque_alpha, rtol=1e-3, atol=0.5
    )


@pytest.mark.parametrize("depth", ["U8", "U16", "F16", "F32"])
def test_confidence_layer_is_grey_inside_the_hole_and_transparent_outside(depth: str) -> None:
    fmt = pf.pixel_format("RGBA", depth)
    confidence, hole = bytes([255, 0, 51, 200]), bytes([255, 255, 0, 255])
    layer = np.frombuffer(pf.confidence_layer_pixels(fmt, confidence, hole), NUMPY_DTYPES[depth])
    full = fmt.opaque_alpha
    level = np.array([1.0, 0.0, 0.0, 200 / 255]) * full
    expected = np.stack([level, level, level, np.array([1.0, 1.0, 0.0, 1.0]) * full], -1)
    np.testing.assert_allclose(layer.reshape(4, 4), expected, rtol=1e-3, atol=0.5)


def test_grey_confidence_layer_has_grey_and_alpha() -> None:
    fmt = pf.pixel_format("GRAYA", "U8")
    layer = pf.confidence_layer_pixels(fmt, bytes([7, 9]), bytes([255, 0]))
    assert layer == bytes([7, 255, 0, 0])
