"""Selection growth (issue 14): an object's soft fringe that the selection missed is removed
with it when the hole is grown, through the engine, the daemon and the command line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from daemon_process import FAST_ENGINE_LIMITS, DaemonProcess, result_image, start_daemon
from PIL import Image

from iic_client import DaemonClient, RemovalRequest, default_grow_px, resolve_grow_px
from iic_client.protocol import MAX_GROW_PX
from iic_engine import EngineLimits, Inpainter
from iic_engine.selection_growth import grow_hole
from tests.cli_run import iic_inpaint

RED = np.array([220, 30, 30])
GREY = 128
SIDE = 120
CENTRE = 60
OBJECT_RADIUS = 16
FRINGE_PX = 2


@pytest.fixture(scope="module")
def inpainter() -> Inpainter:
    return Inpainter(device="cpu", limits=EngineLimits(**FAST_ENGINE_LIMITS))


def _distance_from_centre() -> np.ndarray:
    rows, cols = np.mgrid[:SIDE, :SIDE]
    return np.hypot(rows - CENTRE, cols - CENTRE)


def _object_with_a_fringe() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grainy grey photo with a red disc whose 2 px half-red fringe lies outside the
    selection (as a selection made on the object's hard edge misses it) → image, selection,
    fringe (bool)."""
    distance = _distance_from_centre()
    rng = np.random.default_rng(3)
    image = np.clip(GREY + rng.normal(0, 4, (SIDE, SIDE, 1)), 0, 255).repeat(3, axis=2)
    selection = distance <= OBJECT_RADIUS
    fringe = ~selection & (distance <= OBJECT_RADIUS + FRINGE_PX)
    image[selection] = RED
    image[fringe] = (RED + GREY) / 2
    return image.astype(np.uint8), selection, fringe


def _redness(pixels: np.ndarray) -> float:
    """Mean red excess over green of (n,3) pixels: about 0 on grey, 95 on the fringe."""
    return float(pixels[:, 0].astype(float).mean() - pixels[:, 1].astype(float).mean())


@pytest.mark.parametrize("texture", ["patches", "learned"])
def test_growing_the_selection_removes_the_fringe_it_missed(inpainter, texture):
    image, selection, fringe = _object_with_a_fringe()
    kept = inpainter.remove(image, selection, texture=texture)
    assert _redness(kept.image[fringe]) > 60  # without growth the rim stays
    grown = inpainter.remove(image, selection, texture=texture, grow_px=4)
    assert _redness(grown.image[fringe | selection]) < 12
    beyond = _distance_from_centre() > OBJECT_RADIUS + 8
    np.testing.assert_array_equal(grown.image[beyond], image[beyond])


def test_growth_stops_at_the_avoided_region(inpainter):
    image, selection, _ = _object_with_a_fringe()
    avoid = np.zeros((SIDE, SIDE), bool)
    avoid[:, CENTRE + OBJECT_RADIUS + 1 :] = True
    grown = grow_hole(selection, 6, keep=avoid)
    assert not grown[avoid].any()
    assert grown[CENTRE, CENTRE - OBJECT_RADIUS - 6]
    result = inpainter.remove(image, selection, avoid=avoid, grow_px=6)
    np.testing.assert_array_equal(result.image[avoid], image[avoid])


def test_growth_is_close_to_round_and_keeps_soft_edges():
    dot = np.zeros((41, 41), np.uint8)
    dot[20, 20] = 255
    grown = grow_hole(dot, 10)
    distance = np.hypot(*(np.mgrid[:41, :41] - 20))
    assert (grown[distance <= 10] == 255).all()
    assert not grown[distance > 10].any()
    soft = np.zeros((1, 30), np.float32)
    soft[0, 10:15] = [0.2, 0.6, 1.0, 0.6, 0.2]
    moved = grow_hole(soft, 3)
    np.testing.assert_allclose(moved[0, 6:19], [0, 0.2, 0.6] + [1.0] * 7 + [0.6, 0.2, 0])


def test_the_plug_in_default_is_scaled_to_the_image():
    assert default_grow_px(800, 600) == 2
    assert default_grow_px(6000, 4000) == 9
    assert resolve_grow_px(-1, 6000, 4000) == 9
    assert resolve_grow_px(5, 6000, 4000) == 5


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = start_daemon(tmp_path_factory.mktemp("daemon"))
    yield process
    process.stop()


def test_the_growth_a_client_asks_for_reaches_the_engine(daemon, inpainter):
    image, selection, _ = _object_with_a_fringe()
    request = RemovalRequest(
        width=SIDE,
        height=SIDE,
        channels=3,
        dtype="uint8",
        pixels=image.tobytes(),
        hole=(selection * 255).astype(np.uint8).tobytes(),
    )
    with DaemonClient.connect(daemon.connection_file) as client:
        result = client.submit(replace(request, grow_px=4)).wait(timeout_s=120)
    local = inpainter.remove(image, selection, grow_px=4).image
    np.testing.assert_array_equal(result_image(result.pixels, image), local)


def test_the_command_line_grows_the_mask(tmp_path: Path):
    image, selection, fringe = _object_with_a_fringe()
    photo, mask, out = tmp_path / "photo.png", tmp_path / "mask.png", tmp_path / "out.png"
    Image.fromarray(image).save(photo)
    Image.fromarray((selection * 255).astype(np.uint8)).save(mask)
    run = iic_inpaint("remove", photo, mask, out, "--grow", "4")
    assert run.code == 0, run.stderr
    assert _redness(np.asarray(Image.open(out))[fringe]) < 12
    refused = iic_inpaint("remove", photo, mask, out, "--grow", str(MAX_GROW_PX + 1))
    assert refused.code == 2
    assert f"grow the mask by 0 to {MAX_GROW_PX} pixels" in refused.stderr
