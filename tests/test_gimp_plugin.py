"""The GIMP plug-in in real GIMP 3 (the trixie root of ../shared/editors), against a real daemon.

One session: `iic-inpaint install-plugin gimp` installs the plug-in into a test GIMP profile
(vendored iic_client + pyzmq/msgpack wheels for the root's Python: the root has no system
pyzmq or msgpack on purpose), a real daemon runs on loopback, and gimp-console's Python batch
mode (tests/gimp_batch/run_scenarios.py) loads a PNG, selects, and calls the procedure through
the PDB in every scenario. The profile is filled on the first GIMP start and reused. The tests
then check what GIMP reported and the new layers' bytes against `iic-inpaint remove`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from daemon_process import DaemonProcess, daemon_environment, start_daemon
from editor_test_images import rect_mask, structured_rgb
from editors_root import (
    ROOT_CONNECTION_DIR,
    in_editors,
    root_connection_dir,
    root_platform_tag,
    root_python_version,
    skip_reason,
)
from PIL import Image
from shared_files import REPO

pytestmark = pytest.mark.editors

_SKIP_REASON = skip_reason("gimp-console-3.0")
if _SKIP_REASON is not None:
    pytest.skip(_SKIP_REASON, allow_module_level=True)

PLUGIN = "iic-remove-object"
FILL_LAYER = "Object removed"
CONFIDENCE_LAYER = "Confidence (white = sure)"
HEAL_IN_PLACE = "heal-in-place"
# Inside the root: the profile keeps one path across runs (pluginrc records paths).
ROOT_PROFILE, ROOT_WORK, ROOT_INPUTS, ROOT_BATCH = "/gimp", "/w", "/in", "/t"
GIMP_TIMEOUT_S = 300

# The layer: 96×64, so the engine's crop (selection plus context) is the whole layer and the
# CLI, which gets the whole layer, sees what the daemon sees. It lies at OFFSET in a larger
# canvas, so image and layer coordinates differ; rectangles are in layer coordinates.
WIDTH, HEIGHT = 96, 64
OFFSET = (10, 6)
OBJECT = (30, 20, 24, 16)
AVOID = (0, 0, 40, 64)
USE = (56, 0, 40, 64)
RGBA_U8, RGBA_U16, GREY_U8 = "R'G'B'A u8", "R'G'B'A u16", "Y'A u8"
RGBA_FLOAT, RGBA_HALF = "R'G'B'A float", "R'G'B'A half"
# A fringe of the object's edge colour the selection (OBJECT) misses, as wide as the automatic
# growth at 96×64 (2 px, iic_client.default_grow_px): growth must take it in.
FRINGE_PX = 2
MAGENTA = (255, 0, 255)
# A strongly coloured band right of the hole, in a photo with no green: avoided, none of it
# may reach the fill.
GREEN_BAND = (54, 0, 8, 64)
LEFT_OF_GREEN = (0, 0, 54, 64)


def _in_image(rect: tuple[int, int, int, int]) -> list[int]:
    x, y, w, h = rect
    return [x + OFFSET[0], y + OFFSET[1], w, h]


def _rect_mask(rect: tuple[int, int, int, int]) -> np.ndarray:
    return rect_mask(rect, HEIGHT, WIDTH)


def _test_image() -> np.ndarray:
    return structured_rgb(HEIGHT, WIDTH)


def _fringe() -> np.ndarray:
    """(H,W) bool: the pixels outside OBJECT within FRINGE_PX of it (round corners)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    left, top, width, height = OBJECT
    dx = np.maximum(np.maximum(left - x, x - (left + width - 1)), 0)
    dy = np.maximum(np.maximum(top - y, y - (top + height - 1)), 0)
    return (dx * dx + dy * dy <= FRINGE_PX * FRINGE_PX) & ~_rect_mask(OBJECT)


def _fringed_object_image() -> np.ndarray:
    """A red object on a smooth grey gradient, with a magenta fringe just outside OBJECT."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    grey = 100 + x // 2 + y // 2
    image = np.stack([grey, grey, grey], -1).astype(np.uint8)
    image[_rect_mask(OBJECT)] = (200, 30, 30)
    image[_fringe()] = MAGENTA
    return image


def _green_band_image() -> np.ndarray:
    image = _test_image()
    image[..., 1] //= 3  # no green anywhere else: any green in a fill came from the band
    image[_rect_mask(GREEN_BAND)] = (0, 255, 0)
    return image


def _greenish(pixels: np.ndarray) -> np.ndarray:
    return (pixels[..., 1] > 150) & (pixels[..., 1] > pixels[..., 0] + 60)


def _assert_same_fill(actual: np.ndarray, expected: np.ndarray) -> None:
    """The plug-in's fill is the command line's, run with the daemon's thread count (as in
    the Krita tests), to a rounding level."""
    np.testing.assert_allclose(actual.astype(int), expected.astype(int), atol=1)


def _near_magenta(pixels: np.ndarray) -> np.ndarray:
    return np.abs(pixels.astype(int) - MAGENTA).max(-1) < 80


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gimp-inputs")
    Image.fromarray(_test_image()).save(folder / "image.png")
    Image.fromarray(_test_image()).convert("L").save(folder / "grey.png")
    Image.fromarray(_rect_mask(OBJECT).astype(np.uint8) * 255).save(folder / "object.png")
    Image.fromarray(_rect_mask(AVOID).astype(np.uint8) * 255).save(folder / "avoid.png")
    Image.fromarray(_rect_mask(USE).astype(np.uint8) * 255).save(folder / "use.png")
    Image.fromarray(_fringed_object_image()).save(folder / "fringe.png")
    Image.fromarray(_green_band_image()).save(folder / "green.png")
    return folder


@pytest.fixture(scope="session")
def gimp_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GIMP3_DIRECTORY with the plug-in installed as `install-plugin gimp --dest` does it."""
    profile = tmp_path_factory.mktemp("gimp-profile")
    subprocess.run(
        [sys.executable, "-m", "iic_cli.main", "install-plugin", "gimp"]
        + ["--dest", str(profile / "plug-ins")]
        + ["--python-version", root_python_version(), "--platform", root_platform_tag()],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return profile


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    # The engine's default limits, as `iic-inpaint remove` uses them, so both compute the same.
    process = start_daemon(tmp_path_factory.mktemp("gimp-daemon"), "--engine-limits", "{}")
    try:
        yield process
    finally:
        process.stop()


@dataclass(frozen=True)
class GimpRun:
    report: dict
    out: Path
    log: str  # GIMP's output: in gimp-console, every message GIMP would show a person

    def scenario(self, name: str) -> dict:
        return self.report[name]

    def layer(self, name: str, layer_name: str, dtype: type, channels: int) -> np.ndarray:
        record = next(r for r in self.report[name]["new_layers"] if r["name"] == layer_name)
        return _read_dump(record, dtype, channels)

    def source_layer(self, name: str, dtype: type, channels: int) -> np.ndarray:
        """The source layer after the run (scenarios with dump_source)."""
        return _read_dump(self.report[name]["source_layer"], dtype, channels)


def _read_dump(record: dict, dtype: type, channels: int) -> np.ndarray:
    data = Path(record["host_dump"]).read_bytes()
    return np.frombuffer(data, dtype).reshape(HEIGHT, WIDTH, channels)


def run_gimp(
    profile: Path,
    inputs: Path,
    scenarios: list[dict],
    work: Path,
    connection_dir: Path | None,
    dialog_keys: tuple[str, ...] = (),
) -> GimpRun:
    """Run the scenarios in gimp-console, or, given `dialog_keys`, in GIMP's GUI under Xvfb
    with each Remove Object dialog answered by Alt+key in turn ("undo": one Ctrl+Z in the
    image window when a scenario asks)."""
    (work / "out").mkdir()
    plan = {
        "report": f"{ROOT_WORK}/report.json",
        "out_dir": f"{ROOT_WORK}/out",
        "scenarios": scenarios,
    }
    (work / "scenarios.json").write_text(json.dumps(plan))
    binds = {
        work: ROOT_WORK,
        profile: ROOT_PROFILE,
        inputs: ROOT_INPUTS,
        REPO / "tests" / "gimp_batch": ROOT_BATCH,
    }
    if connection_dir is not None:
        binds[connection_dir] = ROOT_CONNECTION_DIR
    env = {"GIMP3_DIRECTORY": ROOT_PROFILE, "IIC_GIMP_SCENARIOS": f"{ROOT_WORK}/scenarios.json"}
    if dialog_keys:
        command = ["bash", f"{ROOT_BATCH}/run_in_gui.sh", *dialog_keys]
    else:
        command = ["gimp-console-3.0", "-i", "--quit", "-d", "-f"]
        command += ["--batch-interpreter", "python-fu-eval"]
        command += ["-b", f'exec(open("{ROOT_BATCH}/run_scenarios.py").read())']
    completed = in_editors(binds, env, command, work / "gimp.log", GIMP_TIMEOUT_S)
    log = (work / "gimp.log").read_text(errors="replace")
    assert completed.returncode == 0, log[-4000:]
    report = json.loads((work / "report.json").read_text())
    for record in report.values():
        dumped = list(record["new_layers"])
        if "source_layer" in record:
            dumped.append(record["source_layer"])
        for layer in dumped:
            layer["host_dump"] = str(work / "out" / Path(layer["dump"]).name)
    return GimpRun(report, work / "out", log)


def _scenario(name: str, dump_format: str = RGBA_U8, **fields: object) -> dict:
    return {
        "name": name,
        "image": f"{ROOT_INPUTS}/image.png",
        "offset": list(OFFSET),
        "selection": _in_image(OBJECT),
        "dump_format": dump_format,
        "grow": 0,  # as `iic-inpaint remove` without --grow; None: the procedure's default
        **fields,
    }


def _connection_dir(daemon: DaemonProcess, work: Path) -> Path:
    return root_connection_dir(daemon.connection_file, work / "connection")


@pytest.fixture(scope="session")
def with_daemon(
    gimp_profile: Path,
    inputs: Path,
    daemon: DaemonProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> GimpRun:
    scenarios = [
        _scenario("u8", layer_above=True),
        _scenario("u16", RGBA_U16, precision="U16_NON_LINEAR", confidence=True),
        _scenario("float", RGBA_FLOAT, precision="FLOAT_LINEAR"),
        _scenario("half", RGBA_HALF, precision="HALF_LINEAR"),
        _scenario("grey", GREY_U8, image=f"{ROOT_INPUTS}/grey.png"),
        _scenario("avoid", avoid=_in_image(AVOID)),
        _scenario("use", use=_in_image(USE)),
        _scenario("indexed", mode="indexed"),
        _scenario("soft", feather=8),
        _scenario("learned", texture_from_photo=False),
        _scenario("twice", layer_above=True, runs=2, confidence=True),
        _scenario("heal", result=HEAL_IN_PLACE, dump_source=True),
        _scenario("fringe_auto_grow", image=f"{ROOT_INPUTS}/fringe.png", grow=None),
        _scenario("fringe_no_grow", image=f"{ROOT_INPUTS}/fringe.png"),
        _scenario("green_kept", image=f"{ROOT_INPUTS}/green.png"),
        _scenario("green_avoided", image=f"{ROOT_INPUTS}/green.png", avoid=_in_image(GREEN_BAND)),
        _scenario("green_not_used", image=f"{ROOT_INPUTS}/green.png", use=_in_image(LEFT_OF_GREEN)),
    ]
    work = tmp_path_factory.mktemp("gimp-with-daemon")
    return run_gimp(gimp_profile, inputs, scenarios, work, _connection_dir(daemon, work))


@pytest.fixture(scope="session")
def in_the_gui(
    gimp_profile: Path,
    inputs: Path,
    daemon: DaemonProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> GimpRun:
    """Menu-like runs: the dialog shows, and is answered with OK, then with Cancel."""
    scenarios = [
        _scenario("dialog_ok", run_mode="INTERACTIVE"),
        _scenario("dialog_cancel", run_mode="INTERACTIVE"),
    ]
    work = tmp_path_factory.mktemp("gimp-gui")
    connection = _connection_dir(daemon, work)
    return run_gimp(gimp_profile, inputs, scenarios, work, connection, dialog_keys=("o", "c"))


@pytest.fixture(scope="session")
def in_the_gui_without_dialogs(
    gimp_profile: Path,
    inputs: Path,
    daemon: DaemonProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> GimpRun:
    """In GIMP's GUI: a menu-like run that fails before its dialog; a heal in place (plug-ins
    cannot undo: the PDB has no undo), then one Ctrl+Z in the image's window. Automatic
    growth, so the selection is grown and put back inside the undo step too."""
    scenarios = [
        _scenario("menu_no_selection", selection=None, run_mode="INTERACTIVE"),
        _scenario(
            "heal_undo",
            result=HEAL_IN_PLACE,
            grow=None,
            display=True,
            dump_source=True,
            undo_once=True,
        ),
    ]
    work = tmp_path_factory.mktemp("gimp-gui-without-dialogs")
    connection = _connection_dir(daemon, work)
    return run_gimp(gimp_profile, inputs, scenarios, work, connection, dialog_keys=("undo",))


@pytest.fixture(scope="session")
def without_daemon(
    gimp_profile: Path, inputs: Path, tmp_path_factory: pytest.TempPathFactory
) -> GimpRun:
    work = tmp_path_factory.mktemp("gimp-without-daemon")
    scenarios = [
        _scenario("no_daemon"),
        _scenario("no_selection", selection=None),
        _scenario("indexed_unselected", mode="indexed", selection=None),
        _scenario("heal_locked", result=HEAL_IN_PLACE, lock_content=True),
    ]
    return run_gimp(gimp_profile, inputs, scenarios, work, connection_dir=None)


@pytest.fixture(scope="session")
def menu_run_failing(
    gimp_profile: Path, inputs: Path, tmp_path_factory: pytest.TempPathFactory
) -> GimpRun:
    """A run as from the menu (interactive) that fails before its dialog, alone in its GIMP
    so that its log holds only the messages this failure shows."""
    work = tmp_path_factory.mktemp("gimp-menu-run-failing")
    scenarios = [_scenario("menu_no_selection", selection=None, run_mode="INTERACTIVE")]
    return run_gimp(gimp_profile, inputs, scenarios, work, connection_dir=None)


@dataclass(frozen=True)
class CliResult:
    image: np.ndarray  # (H,W,C) uint8
    confidence: np.ndarray  # (H,W) uint8


@pytest.fixture(scope="session")
def without_vendor(
    gimp_profile: Path, inputs: Path, tmp_path_factory: pytest.TempPathFactory
) -> GimpRun:
    """The plug-in as copied by hand, without the installer's vendor/ folder."""
    vendor = gimp_profile / "plug-ins" / PLUGIN / "vendor"
    hidden = vendor.with_name("vendor-hidden")
    work = tmp_path_factory.mktemp("gimp-without-vendor")
    vendor.rename(hidden)
    try:
        return run_gimp(gimp_profile, inputs, [_scenario("no_vendor")], work, connection_dir=None)
    finally:
        hidden.rename(vendor)


def _cli_remove(inputs: Path, image: str, *extra: str) -> CliResult:
    out, confidence = inputs / f"cli-{len(extra)}-{image}", inputs / f"cli-confidence-{image}"
    command = [sys.executable, "-m", "iic_cli.main", "remove", str(inputs / image)]
    command += [str(inputs / "object.png"), str(out), "--device", "cpu"]
    command += ["--confidence", str(confidence), *extra]
    # The daemon's environment (one torch thread): with another thread count the float sums,
    # and now and then a patch match they decide, differ (2 levels on the fringe photo).
    subprocess.run(command, cwd=REPO, env=daemon_environment(), check=True, capture_output=True)
    return CliResult(np.asarray(Image.open(out)), np.asarray(Image.open(confidence)))


@pytest.fixture(scope="session")
def cli_result(inputs: Path) -> CliResult:
    return _cli_remove(inputs, "image.png")


@pytest.fixture(scope="session")
def cli_result_avoiding(inputs: Path) -> CliResult:
    return _cli_remove(inputs, "image.png", "--avoid", str(inputs / "avoid.png"))


@pytest.fixture(scope="session")
def cli_result_using(inputs: Path) -> CliResult:
    return _cli_remove(inputs, "image.png", "--use", str(inputs / "use.png"))


@pytest.fixture(scope="session")
def cli_result_learned(inputs: Path) -> CliResult:
    return _cli_remove(inputs, "image.png", "--texture", "learned")


@pytest.fixture(scope="session")
def cli_result_grey(inputs: Path) -> CliResult:
    return _cli_remove(inputs, "grey.png")


@pytest.fixture(scope="session")
def cli_result_fringe_grown(inputs: Path) -> CliResult:
    return _cli_remove(inputs, "fringe.png", "--grow", str(FRINGE_PX))


def _assert_fill_layer_placed(scenario: dict) -> dict:
    assert scenario["status"] == "success", scenario
    names = scenario["layer_names"]
    assert names[scenario["source_index"] - 1] == FILL_LAYER, names
    assert scenario["returned_layer_is_new"] and scenario["returned_layer_name"] == FILL_LAYER
    fill = next(layer for layer in scenario["new_layers"] if layer["name"] == FILL_LAYER)
    assert fill["offsets"] == list(OFFSET) == scenario["source_offsets"]
    assert fill["size"] == [WIDTH, HEIGHT]
    return fill


# ---- installation -----------------------------------------------------------------------


def test_installer_puts_an_executable_plugin_with_its_vendored_client(gimp_profile: Path) -> None:
    folder = gimp_profile / "plug-ins" / PLUGIN
    program = folder / f"{PLUGIN}.py"
    assert program.read_text().startswith("#!/usr/bin/env python3\n")
    assert program.stat().st_mode & 0o111 == 0o111
    for package in ("iic_client", "zmq", "msgpack"):
        assert (folder / "vendor" / package / "__init__.py").is_file(), package
    settings = json.loads((folder / "settings.json").read_text())
    assert settings == {"iic_inpaint_path": str(Path(sys.executable).with_name("iic-inpaint"))}


# ---- a removal --------------------------------------------------------------------------


def test_fill_layer_is_added_directly_above_the_source_at_its_offsets(
    with_daemon: GimpRun,
) -> None:
    u8 = with_daemon.scenario("u8")
    fill = _assert_fill_layer_placed(u8)
    assert u8["layer_names"] == ["Layer above", FILL_LAYER, "Background"]
    assert fill["format"] == "R'G'B'A u8"


def test_source_pixels_stay_byte_identical(with_daemon: GimpRun) -> None:
    unchanged = {
        name: record["source_unchanged"]
        for name, record in with_daemon.report.items()
        if name != "heal"  # asked to write the source
    }
    assert all(unchanged.values()), unchanged


def test_a_second_removal_goes_above_the_first_with_the_next_number(with_daemon: GimpRun) -> None:
    twice = with_daemon.scenario("twice")
    assert twice["status"] == "success", twice
    assert twice["layer_names"] == [
        "Layer above",
        "Confidence 2 (white = sure)",
        f"{FILL_LAYER} 2",
        CONFIDENCE_LAYER,
        FILL_LAYER,
        "Background",
    ]
    assert twice["returned_layer_name"] == f"{FILL_LAYER} 2"
    for layer in twice["new_layers"]:
        assert layer["offsets"] == list(OFFSET), layer


def test_heal_in_place_merges_the_fill_into_the_layer_and_keeps_the_rest(
    with_daemon: GimpRun, cli_result: CliResult
) -> None:
    heal = with_daemon.scenario("heal")
    assert heal["status"] == "success", heal
    assert heal["layer_names"] == ["Background"] and not heal["new_layers"]
    assert not heal["returned_layer_is_new"] and heal["returned_layer_name"] == "Background"
    assert heal["source_layer"]["format"] == "R'G'B' u8"  # no alpha channel was added
    healed = with_daemon.source_layer("heal", np.uint8, 4)
    hole = _rect_mask(OBJECT)
    _assert_same_fill(healed[hole, :3], cli_result.image[hole])
    np.testing.assert_array_equal(healed[~hole, :3], _test_image()[~hole])


def test_one_undo_takes_a_heal_in_place_back_exactly(in_the_gui_without_dialogs: GimpRun) -> None:
    heal = in_the_gui_without_dialogs.scenario("heal_undo")
    assert heal["status"] == "success", heal
    assert heal["selection_unchanged"] and heal["channels_added"] == 0
    healed = in_the_gui_without_dialogs.source_layer("heal_undo", np.uint8, 4)
    assert (healed[_rect_mask(OBJECT), :3] != _test_image()[_rect_mask(OBJECT)]).any()
    assert heal["undone"], "Ctrl+Z changed nothing"
    assert heal["source_restored_by_undo"]
    assert heal["layer_names_after_undo"] == ["Background"]
    assert heal["selection_unchanged_after_undo"]


def test_growing_the_selection_removes_the_fringe_it_missed(
    with_daemon: GimpRun, cli_result_fringe_grown: CliResult
) -> None:
    photo, hole, fringe = _fringed_object_image(), _rect_mask(OBJECT), _fringe()

    def seen(name: str) -> np.ndarray:
        """The fill layer over the photo (its alpha is 0 or 255: a hard selection)."""
        _assert_fill_layer_placed(with_daemon.scenario(name))
        layer = with_daemon.layer(name, FILL_LAYER, np.uint8, 4)
        return np.where(layer[..., 3:] == 255, layer[..., :3], photo)

    assert _near_magenta(seen("fringe_no_grow")[fringe]).all()  # what the test is about
    grown = seen("fringe_auto_grow")
    assert not _near_magenta(grown[hole | fringe]).any()
    # the automatic growth, 2 px at 96×64, reached the daemon: the fill is remove --grow 2's,
    # to a rounding level (both run with the daemon's thread count)
    difference = np.abs(grown.astype(int) - cli_result_fringe_grown.image.astype(int))
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.01


def test_fill_equals_the_cli_inside_the_selection_and_is_transparent_outside(
    with_daemon: GimpRun, cli_result: CliResult
) -> None:
    layer = with_daemon.layer("u8", FILL_LAYER, np.uint8, 4)
    hole = _rect_mask(OBJECT)
    _assert_same_fill(layer[hole, :3], cli_result.image[hole])
    assert (layer[hole, 3] == 255).all()
    assert not layer[~hole, 3].any()


@pytest.mark.parametrize(
    ("name", "dump_dtype", "full_scale", "precision", "layer_format", "levels"),
    [
        ("u16", np.uint16, 65535.0, "u16-non-linear", "R'G'B'A u16", 0.6),
        ("float", np.float32, 1.0, "float-linear", "RGBA float", 0.6),
        # half's 11-bit mantissa, stored linear: up to about one 8-bit level near white
        ("half", np.float16, 1.0, "half-linear", "RGBA half", 1.2),
    ],
)
def test_deeper_images_keep_their_precision_and_match_the_cli(
    with_daemon: GimpRun,
    cli_result: CliResult,
    name: str,
    dump_dtype: type,
    full_scale: float,
    precision: str,
    layer_format: str,
    levels: float,
) -> None:
    scenario = with_daemon.scenario(name)
    fill = _assert_fill_layer_placed(scenario)
    assert scenario["image_precision"] == precision
    assert fill["format"] == layer_format
    layer = with_daemon.layer(name, FILL_LAYER, dump_dtype, 4).astype(np.float64) / full_scale
    hole = _rect_mask(OBJECT)
    # Within rounding of the 8-bit CLI output (linear light adds the sRGB curve's round trip).
    # The engine's input differs from the CLI's by that rounding too, and Algorithm 1's
    # Binarize may then flip the odd pixel whose confidence sits at 0.5: allow 0.5 % of the
    # hole to differ by more, but never by a large step.
    difference = np.abs(layer[hole, :3] * 255.0 - cli_result.image[hole])
    if name == "half":
        # Half's rounding reaches a whole 8-bit level, and the patch synthesis is discrete:
        # an input a level away can tip a tie between equally good sources, and on this
        # periodic image the choice then carries over a run of pixels (measured: 100 % within
        # a level, or 45 % after such a tie, the two fills equally far from the truth). The
        # fill must be as good as the CLI's and of its colours; a wrong curve or channel
        # order would fail both.
        truth = _test_image()[hole].astype(np.float64)
        error = np.abs(layer[hole, :3] * 255.0 - truth).mean()
        cli_error = np.abs(cli_result.image[hole].astype(np.float64) - truth).mean()
        assert error <= 1.1 * cli_error, (error, cli_error)
        assert np.abs(layer[hole, :3].mean(0) * 255.0 - cli_result.image[hole].mean(0)).max() < 4
    else:
        assert (difference <= levels).all(axis=1).mean() >= 0.995, difference.max()
        assert difference.max() < 32
    assert (layer[hole, 3] == 1.0).all() and not layer[~hole, 3].any()


def test_greyscale_images_get_a_greyscale_fill_equal_to_the_cli(
    with_daemon: GimpRun, cli_result_grey: CliResult
) -> None:
    fill = _assert_fill_layer_placed(with_daemon.scenario("grey"))
    assert fill["format"] == "Y'A u8"
    layer = with_daemon.layer("grey", FILL_LAYER, np.uint8, 2)
    hole = _rect_mask(OBJECT)
    _assert_same_fill(layer[hole, 0], cli_result_grey.image[hole])
    assert (layer[hole, 1] == 255).all() and not layer[~hole, 1].any()


def test_confidence_map_is_a_hidden_layer_named_with_its_legend_above_the_fill(
    with_daemon: GimpRun, cli_result: CliResult
) -> None:
    scenario = with_daemon.scenario("u16")
    names = scenario["layer_names"]
    assert names.index(CONFIDENCE_LAYER) == names.index(FILL_LAYER) - 1
    layers = {layer["name"]: layer for layer in scenario["new_layers"]}
    assert not layers[CONFIDENCE_LAYER]["visible"] and layers[FILL_LAYER]["visible"]
    confidence = with_daemon.layer("u16", CONFIDENCE_LAYER, np.uint16, 4)
    hole = _rect_mask(OBJECT)
    assert (confidence[hole, 3] == 65535).all() and not confidence[~hole, 3].any()
    for channel in range(3):  # a grey picture of the daemon's 0..255 confidence
        np.testing.assert_array_equal(
            confidence[hole, channel], cli_result.confidence[hole].astype(np.uint16) * 257
        )


def test_texture_from_photo_off_gives_the_models_own_fill(
    with_daemon: GimpRun, cli_result: CliResult, cli_result_learned: CliResult
) -> None:
    _assert_fill_layer_placed(with_daemon.scenario("learned"))
    layer = with_daemon.layer("learned", FILL_LAYER, np.uint8, 4)
    hole = _rect_mask(OBJECT)
    _assert_same_fill(layer[hole, :3], cli_result_learned.image[hole])
    assert (cli_result_learned.image[hole] != cli_result.image[hole]).any()


@pytest.mark.parametrize("role", ["avoid", "use"])
def test_avoid_and_use_channels_are_sent_at_the_layers_offsets_and_honoured(
    with_daemon: GimpRun,
    cli_result: CliResult,
    cli_result_avoiding: CliResult,
    cli_result_using: CliResult,
    role: str,
) -> None:
    expected = {"avoid": cli_result_avoiding, "use": cli_result_using}[role]
    _assert_fill_layer_placed(with_daemon.scenario(role))
    layer = with_daemon.layer(role, FILL_LAYER, np.uint8, 4)
    hole = _rect_mask(OBJECT)
    _assert_same_fill(layer[hole, :3], expected.image[hole])
    assert (expected.image[hole] != cli_result.image[hole]).any(), f"{role} changed nothing"


def _green_band_fill(run: GimpRun, name: str) -> np.ndarray:
    _assert_fill_layer_placed(run.scenario(name))
    return run.layer(name, FILL_LAYER, np.uint8, 4)[_rect_mask(OBJECT), :3]


def test_no_avoided_colour_reaches_the_fill(with_daemon: GimpRun) -> None:
    # what the test is about: without avoid, the band beside the hole bleeds into the fill
    assert _greenish(_green_band_fill(with_daemon, "green_kept")).any()
    assert not _greenish(_green_band_fill(with_daemon, "green_avoided")).any()


# `use` says where texture may come from; the fill still meets its neighbours at the border
# without a seam, so the band's colour may reach a few pixels in from it, and no further.
SEAM_REACH_PX = 8


def test_with_use_the_fill_meets_the_rest_only_at_the_border(with_daemon: GimpRun) -> None:
    """That every patch source lies in `use` is asserted on the engine's field
    (test_patch_synthesis); here, that the channel reaches it and no colour from outside
    it gets past the seam's reach."""
    width, height = OBJECT[2], OBJECT[3]
    fill = _green_band_fill(with_daemon, "green_not_used").reshape(height, width, 3)
    assert not _greenish(fill[:, : width - SEAM_REACH_PX]).any()


def test_a_soft_selection_becomes_the_fill_layers_alpha(with_daemon: GimpRun) -> None:
    _assert_fill_layer_placed(with_daemon.scenario("soft"))
    selection = np.frombuffer((with_daemon.out / "soft-selection.raw").read_bytes(), np.uint8)
    selection = selection.reshape(HEIGHT, WIDTH).astype(int)
    assert ((selection > 0) & (selection < 255)).any(), "the feathered selection is not soft"
    alpha = with_daemon.layer("soft", FILL_LAYER, np.uint8, 4)[..., 3].astype(int)
    assert np.abs(alpha - selection).max() <= 1


def test_the_dialogs_ok_runs_the_removal_and_cancel_changes_nothing(
    in_the_gui: GimpRun, cli_result: CliResult
) -> None:
    # GIMP warns of a mnemonic two of the dialog's controls share (Alt+R was both "Result"
    # and the Reset button): each key must reach one control.
    assert "duplicate mnemonic" not in in_the_gui.log
    _assert_fill_layer_placed(in_the_gui.scenario("dialog_ok"))
    layer = in_the_gui.layer("dialog_ok", FILL_LAYER, np.uint8, 4)
    hole = _rect_mask(OBJECT)
    _assert_same_fill(layer[hole, :3], cli_result.image[hole])
    cancelled = in_the_gui.scenario("dialog_cancel")
    assert cancelled["status"] == "cancel", cancelled
    assert not cancelled["new_layers"] and cancelled["source_unchanged"]


# ---- refusals ---------------------------------------------------------------------------


def _assert_failed_and_nothing_added(scenario: dict, *phrases: str) -> None:
    assert scenario["status"] == "execution-error", scenario
    assert scenario["message"] == scenario["last_error"]
    for phrase in phrases:
        assert phrase in scenario["message"], scenario["message"]
    assert not scenario["new_layers"]
    assert len(scenario["layer_names"]) == scenario["layer_count_before"]
    assert scenario["source_unchanged"]


def test_indexed_images_are_refused_with_what_to_do(
    with_daemon: GimpRun, without_daemon: GimpRun
) -> None:
    _assert_failed_and_nothing_added(
        with_daemon.scenario("indexed"), "indexed", "Image ▸ Mode ▸ RGB"
    )
    # before asking for a selection that would then be refused anyway
    _assert_failed_and_nothing_added(
        without_daemon.scenario("indexed_unselected"), "indexed", "Image ▸ Mode ▸ RGB"
    )


def test_no_daemon_fails_with_how_to_start_it(without_daemon: GimpRun) -> None:
    # the installer's settings.json names the host's iic-inpaint, which the root cannot see
    _assert_failed_and_nothing_added(
        without_daemon.scenario("no_daemon"),
        "not running",
        "iic-inpaint serve",
        "GIMP cannot see that program",
    )


NO_SELECTION_MESSAGE = "Nothing is selected. Select the object to remove"


def test_no_selection_fails_with_what_to_select(without_daemon: GimpRun) -> None:
    scenario = without_daemon.scenario("no_selection")
    _assert_failed_and_nothing_added(scenario, NO_SELECTION_MESSAGE)
    assert scenario["message"].startswith(NO_SELECTION_MESSAGE)  # a script gets our words


@pytest.mark.parametrize("where", ["menu_run_failing", "in_the_gui_without_dialogs"])
def test_a_failed_menu_run_shows_our_message_without_gimps_prefix(
    request: pytest.FixtureRequest, where: str
) -> None:
    run: GimpRun = request.getfixturevalue(where)
    scenario = run.scenario("menu_no_selection")
    assert scenario["status"] == "execution-error", scenario
    assert not scenario["new_layers"] and scenario["source_unchanged"]
    shown = [line for line in run.log.splitlines() if NO_SELECTION_MESSAGE in line]
    assert len(shown) == 1, run.log[-4000:]  # shown once, as a message of ours
    assert "error for procedure" not in run.log, run.log[-4000:]


def test_heal_in_place_on_a_locked_layer_fails_with_what_to_do(without_daemon: GimpRun) -> None:
    # before the daemon is even asked (there is none here)
    _assert_failed_and_nothing_added(
        without_daemon.scenario("heal_locked"), "has its pixels locked", "Unlock it"
    )


def test_missing_vendored_modules_fail_with_the_install_command(without_vendor: GimpRun) -> None:
    _assert_failed_and_nothing_added(
        without_vendor.scenario("no_vendor"),
        "is missing from GIMP's Python 3.13",
        f'iic-inpaint install-plugin gimp --dest "{ROOT_PROFILE}/plug-ins" --python-version 3.13',
        f"{ROOT_PROFILE}/plug-ins/{PLUGIN}/vendor",
    )
