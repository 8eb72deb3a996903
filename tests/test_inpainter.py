"""`Inpainter.remove`: what a caller relies on — untouched pixels, formats, soft edges,
user regions, progress, cancellation and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iic_engine import EngineLimits, Inpainter, InpaintingError, RemovalCancelled


@pytest.fixture(scope="module")
def inpainter() -> Inpainter:
    # A small working size keeps the CPU tests fast and makes every size below cascade.
    return Inpainter(device="cpu", limits=EngineLimits(max_working_side=128))


def _photo(height: int, width: int, channels: int, dtype: np.dtype, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = 0.5 + 0.25 * np.sin(x / 9.0)[..., None] * np.cos(y / 13.0)[..., None]
    pixels = np.clip(base + 0.05 * rng.standard_normal((height, width, channels)), 0, 1)
    if np.issubdtype(dtype, np.integer):
        pixels = np.rint(pixels * np.iinfo(dtype).max)
    return pixels.astype(dtype)


def _hole(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    hole = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    hole[y0:y1, x0:x1] = 255
    return hole


@pytest.mark.parametrize(
    ("height", "width", "channels", "dtype"),
    [
        (96, 128, 3, np.uint8),
        (200, 320, 4, np.uint16),
        (333, 517, 1, np.float32),
        (150, 260, 2, np.float16),
    ],
)
def test_pixels_outside_the_hole_are_bit_identical(inpainter, height, width, channels, dtype):
    image = _photo(height, width, channels, dtype)
    hole = _hole(height, width, (width // 3, height // 4, width // 2, height // 2))
    result = inpainter.remove(image, hole)
    assert result.image.dtype == image.dtype and result.image.shape == image.shape
    outside = hole == 0
    assert np.array_equal(result.image[outside].view(np.uint8), image[outside].view(np.uint8))
    assert not np.array_equal(result.image[~outside], image[~outside])
    assert np.all(result.confidence[outside] == 1.0)
    assert result.confidence.min() >= 0.0 and result.confidence.max() <= 1.0


def test_selection_thinner_than_a_patch_on_a_large_crop(inpainter):
    """A one-pixel line leaves no patch wholly in the hole at any upsampling stage; the
    source budget used to grow rings around nothing forever. The line must be filled."""
    height, width = 600, 900
    image = _photo(height, width, 3, np.uint8)
    hole = np.zeros((height, width), np.uint8)
    rows = np.arange(50, 550)
    hole[rows, rows + 150] = 255
    result = inpainter.remove(image, hole)
    assert result.stats.upsampling_stages >= 2
    outside = hole == 0
    assert np.array_equal(result.image[outside], image[outside])
    assert not np.array_equal(result.image[~outside], image[~outside])


def test_two_dimensional_grey_image(inpainter):
    image = _photo(90, 90, 1, np.uint8)[..., 0]
    result = inpainter.remove(image, _hole(90, 90, (30, 30, 60, 60)))
    assert result.image.shape == (90, 90)


def test_soft_selection_blends_by_alpha(inpainter):
    image = _photo(128, 128, 3, np.uint8)
    hard = _hole(128, 128, (40, 40, 90, 90))
    soft = hard.copy()
    soft[hard > 0] = 128
    full = inpainter.remove(image, hard).image.astype(float)
    half = inpainter.remove(image, soft).image.astype(float)
    alpha = 128 / 255
    expected = alpha * full + (1 - alpha) * image.astype(float)
    inside = hard > 0
    assert np.abs(half[inside] - expected[inside]).max() <= 1.0


def test_alpha_is_preserved_outside_and_filled_inside(inpainter):
    image = _photo(100, 100, 4, np.uint8)
    image[..., 3] = 255
    image[:10, :, 3] = 0  # a transparent strip stays transparent
    hole = _hole(100, 100, (30, 30, 70, 70))
    result = inpainter.remove(image, hole)
    assert np.all(result.image[:10, :, 3] == 0)
    assert result.image[50, 50, 3] > 200


def test_empty_hole_returns_the_input_and_says_so(inpainter):
    image = _photo(64, 64, 3, np.uint8)
    result = inpainter.remove(image, np.zeros((64, 64), np.uint8))
    assert np.array_equal(result.image, image)
    assert "empty" in result.stats.note


def test_progress_reports_real_stages_and_cancel_stops(inpainter):
    image = _photo(300, 400, 3, np.uint8)
    hole = _hole(300, 400, (100, 80, 300, 220))
    events = []
    result = inpainter.remove(image, hole, on_progress=events.append)
    stages = [event.stage for event in events]
    assert stages.count("iteration") == 4
    assert stages.count("upsampling") == result.stats.upsampling_stages >= 1
    assert stages[-1] == "done"
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions)

    calls = []

    def cancel_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(RemovalCancelled):
        inpainter.remove(image, hole, should_cancel=cancel_after_two)


@pytest.mark.parametrize(
    ("make_hole", "code"),
    [
        (lambda: np.zeros((10, 10), np.uint8), "size_mismatch"),
        (lambda: np.full((64, 64), 255, np.uint8), "no_context"),
        (lambda: np.pad(np.full((8, 8), 2.0, np.float32), 28), "bad_mask"),
        (lambda: np.zeros((64, 64), np.int64), "bad_mask"),
    ],
)
def test_bad_masks_get_clear_errors(inpainter, make_hole, code):
    with pytest.raises(InpaintingError) as error:
        inpainter.remove(_photo(64, 64, 3, np.uint8), make_hole())
    assert error.value.code == code
    assert len(str(error.value)) > 30


def test_bad_images_get_clear_errors(inpainter):
    hole = _hole(64, 64, (10, 10, 20, 20))
    nan_image = _photo(64, 64, 3, np.float32)
    nan_image[15, 15] = np.nan
    cases = [
        (nan_image, "bad_values"),
        (_photo(64, 64, 3, np.uint8).astype(np.int32), "bad_dtype"),
        (np.zeros((64, 64, 5), np.uint8), "bad_shape"),
    ]
    for image, code in cases:
        with pytest.raises(InpaintingError) as error:
            inpainter.remove(image, hole)
        assert error.value.code == code


def test_avoid_covering_all_context_is_refused(inpainter):
    hole = _hole(64, 64, (10, 10, 30, 30))
    with pytest.raises(InpaintingError) as error:
        inpainter.remove(_photo(64, 64, 3, np.uint8), hole, avoid=np.ones((64, 64), bool))
    assert error.value.code == "no_context"


def test_pixel_limit_is_enforced():
    small = Inpainter(device="cpu", limits=EngineLimits(max_image_pixels=1000))
    with pytest.raises(InpaintingError) as error:
        small.remove(_photo(64, 64, 3, np.uint8), _hole(64, 64, (1, 1, 5, 5)))
    assert error.value.code == "too_large"


def test_the_working_planes_are_the_crop_mirrored_as_pad_to_mirrors():
    """The engine writes the padded working planes in place; they must be numpy's
    "symmetric" padding of the crop, mirrors wider than the crop included."""
    from iic_engine.hole_region import WorkRegion, pad_to
    from iic_engine.inpainter import _working_planes

    rng = np.random.default_rng(0)
    for height, width, padded in [(10, 12, (16, 16)), (5, 7, (16, 24)), (64, 64, (64, 64))]:
        rgb = rng.random((height, width, 3)).astype(np.float32)
        region = WorkRegion(0, 0, width, height, 0, padded)
        expected = torch.from_numpy(pad_to(region, rgb)).permute(2, 0, 1)[None] * 2 - 1
        planes = _working_planes(rgb, region)
        assert planes.is_contiguous()
        assert torch.equal(planes, expected)
