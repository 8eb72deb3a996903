"""Files past the pixel limit are refused with the limit and the flag that raises it, by the
CLI (Pillow's decompression-bomb guard) and by the daemon (`iic-inpaint serve --max-pixels`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iic_cli.daemon_remove import remove_through_daemon
from iic_client import ClientError
from tests.cli_run import iic_inpaint, square_hole
from tests.daemon_process import start_daemon

# Just past Pillow's decompression-bomb limit (178,956,970 pixels); a 1-bit PNG of zeros
# this size is 22 kB on disk.
BOMB_SIDE = 13_400


@pytest.fixture()
def mask(tmp_path: Path) -> Path:
    path = tmp_path / "mask.png"
    Image.fromarray(square_hole(48, 64, 10, 20, 12)).save(path)
    return path


def test_file_past_pillows_limit_names_the_limit_and_the_flag(tmp_path: Path, mask: Path) -> None:
    photo = tmp_path / "huge.png"
    Image.new("1", (BOMB_SIDE, BOMB_SIDE)).save(photo)
    out = tmp_path / "out.png"
    run = iic_inpaint("remove", photo, mask, out, "--device", "cpu")
    assert run.code == 2
    assert "Traceback" not in run.stderr
    assert "178,956,970" in run.stderr and f"--max-pixels {BOMB_SIDE * BOMB_SIDE}" in run.stderr
    assert not out.exists()


def test_max_pixels_sets_the_limit(tmp_path: Path, mask: Path) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(photo)
    out = tmp_path / "out.png"
    refused = iic_inpaint("remove", photo, mask, out, "--device", "cpu", "--max-pixels", "3000")
    assert refused.code == 2 and "--max-pixels 3072" in refused.stderr and not out.exists()
    allowed = iic_inpaint("remove", photo, mask, out, "--device", "cpu", "--max-pixels", "3072")
    assert allowed.code == 0, allowed.stderr
    assert out.exists()


def test_daemon_pixel_limit_names_its_flag(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, "--max-pixels", "1000")
    try:
        image = np.zeros((48, 64, 3), np.uint8)
        with pytest.raises(ClientError) as refusal:
            remove_through_daemon(
                image, square_hole(48, 64, 10, 20, 12), None, None, 1, None, daemon.connection_file
            )
    finally:
        daemon.stop()
    assert "iic-inpaint serve --max-pixels 3072" in str(refusal.value)
