"""Mask files as people save them: grey levels below 50 % keep the pixel unless the user asks
for soft edges (`--soft-mask`), so a mask saved as JPEG does not select its own noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from iic_cli.mask_files import read_mask
from tests.cli_run import iic_inpaint, square_hole, textured_photo

HEIGHT, WIDTH = 96, 128


def _photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    pixels = np.rint(textured_photo(HEIGHT, WIDTH, 3, 255)).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


def _remove(tmp_path: Path, mask: Path, *options: str) -> np.ndarray:
    photo, _ = _photo(tmp_path)
    out = tmp_path / f"out-{mask.stem}{''.join(options)}.png"
    run = iic_inpaint("remove", photo, mask, out, "--device", "cpu", "--iterations", "1", *options)
    assert run.code == 0, run.stderr
    return np.asarray(Image.open(out))


def test_a_mask_saved_as_jpeg_fills_only_its_white_part(tmp_path: Path) -> None:
    _, before = _photo(tmp_path)
    mask = tmp_path / "mask.jpg"
    Image.fromarray(square_hole(HEIGHT, WIDTH, 35, 51, 23)).save(mask, quality=75)
    levels = np.asarray(Image.open(mask).convert("L"))
    assert np.any((levels > 0) & (levels < 8)), "the JPEG mask should carry noise near black"
    after = _remove(tmp_path, mask)
    keep = levels < 128
    assert np.array_equal(after[keep], before[keep])
    assert not np.array_equal(after[~keep], before[~keep])


def test_noise_of_one_to_three_around_black_selects_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    hole = square_hole(HEIGHT, WIDTH, 10, 90, 20)
    noisy = np.where(hole == 255, 255, rng.integers(1, 4, hole.shape)).astype(np.uint8)
    mask = tmp_path / "noisy.png"
    Image.fromarray(noisy).save(mask)
    # What the engine is given, whose every pixel above 0 would widen the crop to the photo.
    assert np.array_equal(read_mask(mask), hole)
    # High-contrast pixels, so even a 3/255 share of fill would change them.
    before = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    photo, out = tmp_path / "contrast.png", tmp_path / "out.png"
    Image.fromarray(before).save(photo)
    run = iic_inpaint("remove", photo, mask, out, "--device", "cpu", "--iterations", "1")
    assert run.code == 0, run.stderr
    keep = hole == 0
    assert np.array_equal(np.asarray(Image.open(out))[keep], before[keep])


def test_grey_above_half_fills_like_white(tmp_path: Path) -> None:
    hole = square_hole(HEIGHT, WIDTH, 30, 40, 30)
    grey_edged = hole.copy()
    grey_edged[26:64, 36:74][grey_edged[26:64, 36:74] == 0] = 200
    white_edged = np.where(grey_edged > 0, 255, 0).astype(np.uint8)
    paths = {"grey": tmp_path / "grey.png", "white": tmp_path / "white.png"}
    Image.fromarray(grey_edged).save(paths["grey"])
    Image.fromarray(white_edged).save(paths["white"])
    assert np.array_equal(_remove(tmp_path, paths["grey"]), _remove(tmp_path, paths["white"]))


def test_soft_mask_keeps_grey_edges_as_partial_fill(tmp_path: Path) -> None:
    _, before = _photo(tmp_path)
    hole = square_hole(HEIGHT, WIDTH, 30, 40, 30)
    edge = np.zeros_like(hole, dtype=bool)
    edge[26:64, 36:74] = True
    edge &= hole == 0
    soft = np.where(edge, 100, hole).astype(np.uint8)  # 100/255: below half
    mask = tmp_path / "soft.png"
    Image.fromarray(soft).save(mask)
    hard = _remove(tmp_path, mask)
    assert np.array_equal(hard[edge], before[edge])
    blended = _remove(tmp_path, mask, "--soft-mask")
    outside = soft == 0
    assert np.array_equal(blended[outside], before[outside])
    assert np.mean(np.any(blended[edge] != before[edge], axis=-1)) > 0.5
