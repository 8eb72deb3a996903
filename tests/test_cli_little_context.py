"""A selection of most of the layer still gives a result, and the command says that little
context was left, in-process and through the daemon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iic_cli.daemon_remove import remove_through_daemon
from tests.cli_run import iic_inpaint
from tests.daemon_process import start_daemon


def _photo_and_most_of_it() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    selected = np.zeros((64, 80), np.uint8)
    selected[4:-4, 4:-4] = 255
    return photo, selected


def test_remove_fills_most_of_the_layer_and_warns(tmp_path: Path) -> None:
    photo, selected = _photo_and_most_of_it()
    photo_file, mask, out = tmp_path / "photo.png", tmp_path / "mask.png", tmp_path / "out.png"
    Image.fromarray(photo).save(photo_file)
    Image.fromarray(selected).save(mask)
    run = iic_inpaint("remove", photo_file, mask, out, "--device", "cpu")
    assert run.code == 0, run.stderr
    assert out.exists()
    assert "little is left to borrow" in run.stderr


def test_remove_through_the_daemon_warns_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo, selected = _photo_and_most_of_it()
    daemon = start_daemon(tmp_path)
    try:
        filled, _ = remove_through_daemon(
            photo, selected, None, None, 4, None, connection_file=daemon.connection_file
        )
    finally:
        daemon.stop()
    assert (filled[selected > 0] != photo[selected > 0]).any()
    assert "little is left to borrow" in capsys.readouterr().err
