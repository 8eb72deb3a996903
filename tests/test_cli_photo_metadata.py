"""`iic-inpaint remove` keeps what a photo carries besides pixels: JPEG quality, the colour
profile, EXIF, and which way is up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from tests.cli_run import iic_inpaint, square_hole, textured_photo

HEIGHT, WIDTH = 64, 96
ORIENTATION, MAKE, DATE_TAKEN, EXIF_IFD = 0x0112, 0x010F, 0x9003, 0x8769
ROTATE_CLOCKWISE = 6  # EXIF: the stored pixels are shown turned 90° clockwise


# Built once: a profile's header carries the time it was made.
ICC_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _photo(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.rint(textured_photo(height, width, 3, 255)).astype(np.uint8)


def _remove(tmp_path: Path, photo: Path, hole: np.ndarray, out_name: str, *options: str) -> Path:
    mask = tmp_path / "mask.png"
    Image.fromarray(hole).save(mask)
    out = tmp_path / out_name
    run = iic_inpaint("remove", photo, mask, out, "--device", "cpu", "--iterations", "1", *options)
    assert run.code == 0, run.stderr
    return out


def _reference_jpeg(tmp_path: Path, pixels: np.ndarray, quality: int) -> Image.Image:
    path = tmp_path / f"reference-{quality}.jpg"
    Image.fromarray(pixels).save(path, quality=quality)
    return Image.open(path)


@pytest.mark.parametrize(("options", "quality"), [((), 95), (("--quality", "80"), 80)])
def test_jpeg_is_written_at_the_chosen_quality(
    tmp_path: Path, options: tuple[str, ...], quality: int
) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(photo)
    out = _remove(tmp_path, photo, square_hole(HEIGHT, WIDTH, 20, 30, 16), "out.jpg", *options)
    written = Image.open(out)
    assert written.quantization == _reference_jpeg(tmp_path, _photo(), quality).quantization


def test_quality_out_of_range_is_refused(tmp_path: Path) -> None:
    run = iic_inpaint("remove", "a.png", "b.png", tmp_path / "c.jpg", "--quality", "101")
    assert run.code == 2 and "use 1 to 100" in run.stderr


def test_jpeg_keeps_colour_profile_and_exif(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[MAKE] = "Fujifilm"
    exif.get_ifd(EXIF_IFD)[DATE_TAKEN] = "2026:06:01 07:30:00"
    photo = tmp_path / "photo.jpg"
    Image.fromarray(_photo()).save(photo, quality=95, icc_profile=ICC_PROFILE, exif=exif)
    out = _remove(tmp_path, photo, square_hole(HEIGHT, WIDTH, 20, 30, 16), "out.jpg")
    written = Image.open(out)
    assert written.info.get("icc_profile") == ICC_PROFILE
    tags = written.getexif()
    assert tags[MAKE] == "Fujifilm"
    assert tags.get_ifd(EXIF_IFD)[DATE_TAKEN] == "2026:06:01 07:30:00"


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_png_and_tiff_keep_colour_profile(tmp_path: Path, suffix: str) -> None:
    photo = tmp_path / f"photo{suffix}"
    Image.fromarray(_photo()).save(photo, icc_profile=ICC_PROFILE)
    out = _remove(tmp_path, photo, square_hole(HEIGHT, WIDTH, 20, 30, 16), f"out{suffix}")
    assert Image.open(out).info.get("icc_profile") == ICC_PROFILE


def test_sixteen_bit_tiff_keeps_colour_profile(tmp_path: Path) -> None:
    grey = np.rint(textured_photo(HEIGHT, WIDTH, 1, 65535)[..., 0]).astype(np.uint16)
    photo = tmp_path / "grey16.png"
    Image.fromarray(grey).save(photo, icc_profile=ICC_PROFILE)
    out = _remove(tmp_path, photo, square_hole(HEIGHT, WIDTH, 20, 30, 16), "out.tif")
    written = Image.open(out)
    assert written.mode == "I;16" and written.info.get("icc_profile") == ICC_PROFILE


def test_rotated_photo_is_read_and_written_as_it_is_shown(tmp_path: Path) -> None:
    """A camera JPEG stored sideways with orientation 6: the mask is drawn on the photo as
    viewers show it (portrait), and the result shows the same way in every viewer."""
    shown = _photo(WIDTH, HEIGHT)  # portrait, as viewers show it
    stored = np.rot90(shown, 1)  # what the camera wrote: turned back a quarter
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_CLOCKWISE
    exif[MAKE] = "Fujifilm"
    photo = tmp_path / "sideways.jpg"
    Image.fromarray(np.ascontiguousarray(stored)).save(photo, quality=98, exif=exif)
    hole = square_hole(WIDTH, HEIGHT, 60, 20, 16)
    out = _remove(tmp_path, photo, hole, "out.jpg")
    written = Image.open(out)
    assert written.getexif().get(ORIENTATION, 1) == 1 and written.getexif()[MAKE] == "Fujifilm"
    after = np.asarray(written).astype(np.float64)
    assert after.shape == shown.shape
    keep = hole == 0
    assert np.abs(after[keep] - shown[keep]).mean() < 6.0  # JPEG loss only
