"""Image-quality metrics of §4.2: L1, PSNR and SSIM on images with values in [0,1].

Images are float arrays (H,W) or (H,W,C) in [0,1]; colour metrics average over channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Identical images have infinite PSNR; a cap keeps per-bin means finite.
PSNR_CAP_DB = 100.0
# Wang et al. 2004: 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, dynamic range 1.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 1.0) ** 2
SSIM_C2 = (0.03 * 1.0) ** 2


def _as_float(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def l1_error(result: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute difference over all pixels and channels."""
    return float(np.abs(_as_float(result) - _as_float(truth)).mean())


def psnr_from_mse(mse: float) -> float:
    if mse <= 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10 * math.log10(1.0 / mse))


def psnr(result: np.ndarray, truth: np.ndarray) -> float:
    return psnr_from_mse(float(np.square(_as_float(result) - _as_float(truth)).mean()))


def _gaussian_window() -> np.ndarray:
    offsets = np.arange(SSIM_WINDOW) - SSIM_WINDOW // 2
    weights = np.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    return weights / weights.sum()


def _local_mean(channel: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean, only where the window fits ("valid", as in Wang et al.)."""
    filtered = cv2.sepFilter2D(channel, cv2.CV_64F, window, window, borderType=cv2.BORDER_REFLECT)
    radius = SSIM_WINDOW // 2
    return filtered[radius:-radius, radius:-radius]


def _ssim_channel(a: np.ndarray, b: np.ndarray, window: np.ndarray) -> float:
    mean_a, mean_b = _local_mean(a, window), _local_mean(b, window)
    var_a = _local_mean(a * a, window) - mean_a**2
    var_b = _local_mean(b * b, window) - mean_b**2
    covariance = _local_mean(a * b, window) - mean_a * mean_b
    numerator = (2 * mean_a * mean_b + SSIM_C1) * (2 * covariance + SSIM_C2)
    denominator = (mean_a**2 + mean_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return float((numerator / denominator).mean())


def ssim(result: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004), mean over the map and over channels."""
    a, b = _as_float(result), _as_float(truth)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    window = _gaussian_window()
    return float(np.mean([_ssim_channel(a[..., i], b[..., i], window) for i in range(a.shape[2])]))


@dataclass(frozen=True)
class RegionError:
    """Summed errors over a pixel region, for pooling over many images (Tab. 2)."""

    absolute: float
    squared: float
    values: int

    def __add__(self, other: RegionError) -> RegionError:
        return RegionError(
            self.absolute + other.absolute, self.squared + other.squared, self.values + other.values
        )

    @property
    def l1(self) -> float:
        return self.absolute / self.values if self.values else math.nan

    @property
    def psnr(self) -> float:
        return psnr_from_mse(self.squared / self.values) if self.values else math.nan


def region_error(result: np.ndarray, truth: np.ndarray, region: np.ndarray) -> RegionError:
    """Errors over the pixels where `region` (H,W) bool is True, all channels."""
    difference = (_as_float(result) - _as_float(truth))[region]
    return RegionError(
        absolute=float(np.abs(difference).sum()),
        squared=float(np.square(difference).sum()),
        values=int(difference.size),
    )
