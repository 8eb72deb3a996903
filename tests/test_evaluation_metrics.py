"""The dev-eval metrics on pairs whose scores are known by hand, and the report's plumbing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iic_engine.evaluation.metrics import (
    PSNR_CAP_DB,
    SSIM_C1,
    l1_error,
    psnr,
    region_error,
    ssim,
)
from iic_engine.evaluation.report import EvalSample, evaluate, format_report, ratio_bin

RNG = np.random.default_rng(0)


def test_identical_images_score_perfectly() -> None:
    image = RNG.random((32, 40, 3))
    assert l1_error(image, image) == 0.0
    assert psnr(image, image) == PSNR_CAP_DB
    assert ssim(image, image) == pytest.approx(1.0)


def test_a_uniform_offset_of_a_tenth_gives_20_db() -> None:
    dark, lighter = np.zeros((24, 24, 3)), np.full((24, 24, 3), 0.1)
    assert l1_error(dark, lighter) == pytest.approx(0.1)
    assert psnr(dark, lighter) == pytest.approx(20.0)
    # Flat images: no variance, so SSIM is the luminance term alone, C1 / (0.1² + C1).
    assert ssim(dark, lighter) == pytest.approx(SSIM_C1 / (0.01 + SSIM_C1))


def test_ssim_falls_with_noise_and_is_symmetric() -> None:
    image = RNG.random((48, 48))
    slightly = np.clip(image + RNG.normal(0, 0.02, image.shape), 0, 1)
    badly = np.clip(image + RNG.normal(0, 0.2, image.shape), 0, 1)
    assert 1.0 > ssim(slightly, image) > ssim(badly, image)
    assert ssim(slightly, image) == pytest.approx(ssim(image, slightly))


def test_region_errors_pool_over_images() -> None:
    truth = np.zeros((4, 4, 3))
    result = truth.copy()
    result[0, 0] = 0.5
    region = np.zeros((4, 4), dtype=bool)
    region[0, :2] = True
    pooled = region_error(result, truth, region) + region_error(truth, truth, region)
    assert pooled.values == 12
    assert pooled.l1 == pytest.approx(1.5 / 12)
    assert pooled.psnr == pytest.approx(10 * math.log10(12 / 0.75))


def test_report_bins_by_hole_ratio_and_splits_by_confidence() -> None:
    image = (RNG.random((64, 64, 3)) * 255).astype(np.uint8)
    hole = np.zeros((64, 64), dtype=bool)
    hole[8:40, 8:40] = True  # 25 %

    def half_right(picture: np.ndarray, fill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = picture.copy()
        result[fill & (np.arange(64)[None, :] >= 24)] = 0  # wrong where confidence is low
        confidence = np.where(np.arange(64)[None, :] < 24, 0.9, 0.1) * np.ones((64, 64))
        return result, confidence

    report = evaluate([EvalSample("square", image, hole)], half_right)
    assert ratio_bin(0.25) == "20-30%"
    assert report.methods["model"].count("20-30%") == 1
    assert report.methods["telea"].count("all") == 1
    assert report.confident.l1 == 0.0 and report.unconfident.l1 > 0.1
    assert "20-30%" in format_report(report)
    assert report.sheet.shape[2] == 3


def _textured(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + 0.15 * rng.standard_normal((64, 64, 3)), 0, 1)


def test_texture_measures_score_the_truth_perfectly_and_a_blur_badly():
    import cv2

    from iic_engine.evaluation.metrics import gradient_ratio, patch_swd

    truth = _textured()
    hole = np.zeros((64, 64), bool)
    hole[16:48, 16:48] = True
    assert gradient_ratio(truth, truth, hole) == pytest.approx(1.0)
    assert patch_swd(truth, truth, hole) == pytest.approx(0.0)
    blurred = np.where(hole[..., None], cv2.GaussianBlur(truth, (0, 0), 3), truth)
    assert gradient_ratio(blurred, truth, hole) < 0.3
    other_grain = np.where(hole[..., None], _textured(seed=1), truth)
    # Another draw of the same grain is the same texture; a blur is not.
    assert 0.9 < gradient_ratio(other_grain, truth, hole) < 1.1
    assert patch_swd(other_grain, truth, hole) < 0.2 * patch_swd(blurred, truth, hole)


def test_the_numpy_filters_give_opencvs_numbers() -> None:
    # The metrics run without OpenCV (the GPU machine has none) and must score as before.
    import cv2

    from iic_engine.evaluation import metrics

    image = RNG.random((37, 53))
    window = metrics._gaussian_window()
    radius = metrics.SSIM_WINDOW // 2
    filtered = cv2.sepFilter2D(image, cv2.CV_64F, window, window, borderType=cv2.BORDER_REFLECT)
    assert np.allclose(metrics._local_mean(image, window), filtered[radius:-radius, radius:-radius])
    sobel = [
        cv2.Sobel(image, cv2.CV_64F, dx, 1 - dx, ksize=3, borderType=cv2.BORDER_REFLECT)
        for dx in (1, 0)
    ]
    assert np.allclose(metrics._gradient_magnitude(image), np.hypot(*sobel))
    mask = RNG.random((37, 53)) < 0.8
    counts = cv2.boxFilter(
        mask.astype(np.float64), -1, (7, 7), normalize=False, anchor=(0, 0),
        borderType=cv2.BORDER_CONSTANT,
    )  # fmt: skip
    assert np.array_equal(metrics.window_sums(mask, 7), counts.astype(np.int64))
