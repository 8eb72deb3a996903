"""`remove --daemon` refuses --weights and --device, which the daemon would ignore."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.cli_run import iic_inpaint, square_hole


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--weights", "my-model.safetensors"), "--weights"),
        (("--device", "cpu"), "--device"),
        (("--weights", "my-model.safetensors", "--device", "cpu"), "--weights and --device"),
    ],
)
def test_model_options_with_daemon_are_refused(
    tmp_path: Path, options: tuple[str, ...], named: str
) -> None:
    photo, mask, out = tmp_path / "photo.png", tmp_path / "mask.png", tmp_path / "out.png"
    Image.new("RGB", (64, 48), (90, 90, 90)).save(photo)
    Image.fromarray(square_hole(48, 64, 10, 20, 12)).save(mask)
    run = iic_inpaint("remove", photo, mask, out, "--daemon", *options)
    assert run.code == 2
    assert f"{named} cannot be used with --daemon" in run.stderr
    assert "iic-inpaint serve --weights FILE --device DEVICE" in run.stderr
    assert not out.exists()
