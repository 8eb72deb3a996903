"""16-bit and float files keep their depth through `iic-inpaint remove`, or say why not.

The 16-bit colour inputs are written by OpenCV, a reader and writer independent of the one
under test; outputs are read back by it too."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.cli_run import iic_inpaint, square_hole, textured_photo

HEIGHT, WIDTH = 80, 112
HOLE = square_hole(HEIGHT, WIDTH, 25, 40, 24)
KEEP = HOLE == 0


def _write_colour_16(path: Path, rgb: np.ndarray) -> None:
    order = [2, 1, 0, 3][: rgb.shape[2]]  # OpenCV stores BGR(A)
    assert cv2.imwrite(str(path), rgb[..., order])


def _read_colour_16(path: Path) -> np.ndarray:
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored is not None, f"OpenCV cannot read {path}"
    return stored[..., [2, 1, 0, 3][: stored.shape[2]]]


def _remove(tmp_path: Path, photo: Path, out_name: str) -> tuple[Path, str]:
    mask = tmp_path / "mask.png"
    Image.fromarray(HOLE).save(mask)
    out = tmp_path / out_name
    run = iic_inpaint("remove", photo, mask, out, "--device", "cpu", "--iterations", "1")
    assert run.code == 0, run.stderr
    return out, run.stderr


@pytest.mark.parametrize(
    ("suffix", "channels"), [(".png", 3), (".tif", 3), (".png", 4), (".tif", 4)]
)
def test_sixteen_bit_colour_stays_sixteen_bit(tmp_path: Path, suffix: str, channels: int) -> None:
    before = np.rint(textured_photo(HEIGHT, WIDTH, channels, 65535)).astype(np.uint16)
    assert np.any(before % 256 != before[0, 0] % 256), "low bytes must carry information"
    photo = tmp_path / f"photo{suffix}"
    _write_colour_16(photo, before)
    out, notes = _remove(tmp_path, photo, f"out{suffix}")
    after = _read_colour_16(out)
    assert after.dtype == np.uint16 and after.shape == before.shape
    assert np.array_equal(after[KEEP], before[KEEP])
    assert not np.array_equal(after[~KEEP], before[~KEEP])
    assert "written as" not in notes


def test_sixteen_bit_grey_png_stays_sixteen_bit(tmp_path: Path) -> None:
    before = np.rint(textured_photo(HEIGHT, WIDTH, 1, 65535)[..., 0]).astype(np.uint16)
    photo = tmp_path / "grey.png"
    Image.fromarray(before).save(photo)
    out, _ = _remove(tmp_path, photo, "out.tif")
    after = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert after.dtype == np.uint16
    assert np.array_equal(after[KEEP], before[KEEP])


def test_integer_grey_tiff_is_read_as_sixteen_bit(tmp_path: Path) -> None:
    before = np.rint(textured_photo(HEIGHT, WIDTH, 1, 65535)[..., 0]).astype(np.int32)
    photo = tmp_path / "integer.tif"
    Image.fromarray(before, mode="I").save(photo)
    assert Image.open(photo).mode == "I"
    out, _ = _remove(tmp_path, photo, "out.tif")
    after = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert after.dtype == np.uint16
    assert np.array_equal(after[KEEP], before[KEEP])


def test_float_tiff_stays_float(tmp_path: Path) -> None:
    before = textured_photo(HEIGHT, WIDTH, 1, 1.0)[..., 0].astype(np.float32)
    photo = tmp_path / "float.tif"
    Image.fromarray(before, mode="F").save(photo)
    out, _ = _remove(tmp_path, photo, "out.tif")
    after = np.asarray(Image.open(out))
    assert after.dtype == np.float32
    assert np.array_equal(after[KEEP], before[KEEP])


def test_sixteen_bit_to_jpeg_says_it_drops_to_eight_bit(tmp_path: Path) -> None:
    before = np.rint(textured_photo(HEIGHT, WIDTH, 3, 65535)).astype(np.uint16)
    photo = tmp_path / "photo.png"
    _write_colour_16(photo, before)
    out, notes = _remove(tmp_path, photo, "out.jpg")
    assert "16-bit result was written as 8-bit" in notes and ".tif" in notes
    after = np.asarray(Image.open(out)).astype(np.float64)
    expected = before.astype(np.float64) / 257
    assert np.abs(after[KEEP] - expected[KEEP]).mean() < 8.0  # JPEG loss on fine noise


def test_float_to_png_says_it_drops_to_sixteen_bit(tmp_path: Path) -> None:
    before = textured_photo(HEIGHT, WIDTH, 1, 1.0)[..., 0].astype(np.float32)
    photo = tmp_path / "float.tif"
    Image.fromarray(before, mode="F").save(photo)
    out, notes = _remove(tmp_path, photo, "out.png")
    assert "32-bit float result was written as 16-bit" in notes
    after = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert after.dtype == np.uint16
    assert np.array_equal(after[KEEP], np.rint(before[KEEP] * 65535).astype(np.uint16))
