"""CMYK and Lab files are refused with what to do, never converted naively to RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli_run import iic_inpaint, square_hole


@pytest.mark.parametrize(
    ("mode", "name", "colour_space"), [("CMYK", "print.jpg", "CMYK"), ("LAB", "lab.tif", "Lab")]
)
def test_colour_space_without_safe_conversion_is_refused(
    tmp_path: Path, mode: str, name: str, colour_space: str
) -> None:
    photo = tmp_path / name
    Image.new(mode, (64, 48), (40, 120, 200, 10)[: len(mode)]).save(photo)
    mask = tmp_path / "mask.png"
    Image.fromarray(square_hole(48, 64, 10, 20, 12)).save(mask)
    out = tmp_path / "out.png"
    run = iic_inpaint("remove", photo, mask, out, "--device", "cpu")
    assert run.code == 2
    assert colour_space in run.stderr and "Convert a copy to RGB" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()
    assert np.asarray(Image.open(photo)).shape[-1] == len(mode)  # the file is untouched
