"""Selections as people make them (issue 14, engine items 1, 2 and 4): an object on the
image's edge, an avoid region next to the hole, transparent pixels — none of their colour
may come back in the fill, with either texture path and with no upsampling stage."""

from __future__ import annotations

import numpy as np
import pytest

from iic_engine import EngineLimits, Inpainter, RemovalCancelled

RED = (220, 30, 30)
GREY = 128


@pytest.fixture(scope="module")
def inpainter() -> Inpainter:
    return Inpainter(device="cpu", limits=EngineLimits(max_working_side=256))


def _grey_photo(height: int, width: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(1)
    grain = rng.normal(0, 4, (height, width, 1))
    photo = np.clip(GREY + grain, 0, 255).repeat(channels, axis=2)
    return photo.astype(np.uint8)


def _redness(pixels: np.ndarray) -> float:
    """Mean red excess over green of (n,3) pixels: about 0 on grey, ~190 on the object."""
    return float(pixels[:, 0].astype(float).mean() - pixels[:, 1].astype(float).mean())


@pytest.mark.parametrize("texture", ["patches", "learned"])
@pytest.mark.parametrize("edge", ["top", "bottom", "left", "right"])
def test_an_object_on_the_edge_is_not_mirrored_back_into_its_fill(inpainter, texture, edge):
    image = _grey_photo(150, 170)
    hole = np.zeros((150, 170), bool)
    rows, cols = {
        "top": (slice(0, 30), slice(60, 100)),
        "bottom": (slice(120, 150), slice(60, 100)),
        "left": (slice(50, 90), slice(0, 30)),
        "right": (slice(50, 90), slice(140, 170)),
    }[edge]
    hole[rows, cols] = True
    image[hole] = RED
    result = inpainter.remove(image, hole, texture=texture)
    assert _redness(result.image[hole]) < 15


@pytest.mark.parametrize("texture", ["patches", "learned"])
def test_avoided_colour_stays_out_of_the_fill_with_no_upsampling_stage(inpainter, texture):
    image = _grey_photo(120, 140)
    hole = np.zeros((120, 140), bool)
    hole[40:80, 40:80] = True
    avoid = np.zeros((120, 140), bool)
    avoid[30:90, 80:110] = True  # a red object touching the hole's right side
    image[avoid] = RED
    without = inpainter.remove(image, hole, texture=texture)
    assert without.stats.upsampling_stages == 0
    assert _redness(without.image[hole]) > 20  # the red does leak when not avoided
    result = inpainter.remove(image, hole, avoid=avoid, texture=texture)
    assert result.stats.upsampling_stages == 0
    assert _redness(result.image[hole]) < 10
    assert np.array_equal(result.image[avoid], image[avoid])  # avoided pixels are kept


def test_transparent_pixels_are_not_context(inpainter):
    image = np.concatenate([_grey_photo(120, 140), np.full((120, 140, 1), 255, np.uint8)], 2)
    hole = np.zeros((120, 140), bool)
    hole[40:80, 40:80] = True
    clear = np.zeros((120, 140), bool)
    clear[30:90, 80:110] = True
    image[clear] = (*RED, 0)  # invisible red
    result = inpainter.remove(image, hole)
    assert _redness(result.image[hole][:, :3]) < 10
    assert np.array_equal(result.image[~hole], image[~hole])


def test_separate_objects_are_filled_in_crops_of_their_own(inpainter):
    image = _grey_photo(1200, 1600)
    hole = np.zeros((1200, 1600), bool)
    hole[40:90, 50:110] = True  # top-left
    hole[1100:1160, 1480:1550] = True  # bottom-right
    image[hole] = RED
    both = inpainter.remove(image, hole)
    one = np.zeros_like(hole)
    one[40:90, 50:110] = True
    alone = inpainter.remove(image, one)
    assert both.stats.regions == 2
    # Each object costs what it costs alone: no whole-photo crop, no extra stage.
    assert both.stats.upsampling_stages == alone.stats.upsampling_stages == 0
    assert both.stats.working_size[0] * both.stats.working_size[1] <= 2 * (
        alone.stats.working_size[0] * alone.stats.working_size[1]
    )
    assert _redness(both.image[hole]) < 15
    assert np.array_equal(both.image[~hole], image[~hole])
    confidence = both.confidence
    assert (confidence[~hole] == 1).all() and (confidence[hole] < 1).any()


def test_progress_covers_every_crop_and_cancel_stops_between_them():
    inpainter = Inpainter(device="cpu", limits=EngineLimits(max_working_side=128))
    image = _grey_photo(400, 600)
    hole = np.zeros((400, 600), bool)
    hole[20:60, 20:60] = True
    hole[330:380, 520:580] = True
    events = []
    inpainter.remove(image, hole, on_progress=events.append)
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum(event.stage == "iteration" for event in events) == 2 * 4
    iterations = [event.fraction for event in events if event.stage == "iteration"]
    # The first crop's iterations in the first half, the second's in the second.
    assert all(f <= 0.5 for f in iterations[:4]) and all(f > 0.5 for f in iterations[4:])

    calls = []

    def cancel_in_the_second_crop() -> bool:
        calls.append(1)
        return len(calls) > 9

    with pytest.raises(RemovalCancelled):
        inpainter.remove(image, hole, should_cancel=cancel_in_the_second_crop)


def test_a_selection_of_most_of_the_layer_still_fills_but_says_little_is_left(inpainter):
    image = _grey_photo(100, 120)
    most = np.zeros((100, 120), bool)
    most[4:-4, 4:-4] = True  # all but a 4 px border
    result = inpainter.remove(image, most)
    assert "little is left" in result.stats.note and "86%" in result.stats.note
    assert not np.array_equal(result.image[most], image[most])
    small = np.zeros((100, 120), bool)
    small[30:60, 40:80] = True
    assert inpainter.remove(image, small).stats.note == ""
