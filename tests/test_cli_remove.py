"""`iic-inpaint remove` as a person runs it: files in, file out, clear errors, nothing
written on failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iic_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    photo = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    mask[40:80, 60:100] = 255
    paths = {"photo": tmp_path / "photo.png", "mask": tmp_path / "mask.png"}
    Image.fromarray(photo).save(paths["photo"])
    Image.fromarray(mask).save(paths["mask"])
    return paths


def test_remove_writes_result_and_confidence(files, tmp_path: Path) -> None:
    out, confidence = tmp_path / "out.png", tmp_path / "confidence.png"
    completed = _cli(
        "remove",
        str(files["photo"]),
        str(files["mask"]),
        str(out),
        "--device",
        "cpu",
        "--confidence",
        str(confidence),
        "--iterations",
        "2",
    )
    assert completed.returncode == 0, completed.stderr
    before = np.asarray(Image.open(files["photo"]))
    after = np.asarray(Image.open(out))
    mask = np.asarray(Image.open(files["mask"])) > 0
    assert np.array_equal(before[~mask], after[~mask])
    assert not np.array_equal(before[mask], after[mask])
    confidence_map = np.asarray(Image.open(confidence))
    assert confidence_map.shape == mask.shape and np.all(confidence_map[~mask] == 255)


def test_size_mismatch_is_explained_and_nothing_written(files, tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(small)
    out = tmp_path / "out.png"
    completed = _cli("remove", str(files["photo"]), str(small), str(out), "--device", "cpu")
    assert completed.returncode == 2
    assert "same size" in completed.stderr
    assert not out.exists()


def test_unreadable_file_is_explained(files, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    out = tmp_path / "out.png"
    completed = _cli("remove", str(broken), str(files["mask"]), str(out), "--device", "cpu")
    assert completed.returncode == 2
    assert "not a readable image" in completed.stderr
    assert not out.exists()
