"""Image-quality metrics of §4.2: L1, PSNR and SSIM on images with values in [0,1].

Images are float arrays (H,W) or (H,W,C) in [0,1]; colour metrics average over channels.
NumPy only: training and `eval` run where OpenCV is not installed (the GPU machine's image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    height, width = channel.shape
    size = window.shape[0]
    rows = sum(w * channel[i : height - size + 1 + i] for i, w in enumerate(window))
    return sum(w * rows[:, i : width - size + 1 + i] for i, w in enumerate(window))


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


# Texture measures (issue 13): pixel metrics reward a smooth blur, these reward grain.
TEXTURE_PATCH = 7
TEXTURE_MAX_PATCHES = 4096
TEXTURE_DIRECTIONS = 64
TEXTURE_SEED = 2020
_LUMA = np.array([0.299, 0.587, 0.114])


def luminance(image: np.ndarray) -> np.ndarray:
    """(H,W,3) or (H,W) in [0,1] → (H,W) float64 Y = 0.299R + 0.587G + 0.114B."""
    image = _as_float(image)
    return image if image.ndim == 2 else image[..., :3] @ _LUMA


def _gradient_magnitude(luma: np.ndarray) -> np.ndarray:
    # The 3×3 Sobel pair with reflected borders, as scipy.ndimage.sobel's default mode.
    padded = np.pad(luma, 1, mode="symmetric")
    step_x = padded[:, 2:] - padded[:, :-2]
    step_y = padded[2:] - padded[:-2]
    along_x = step_x[:-2] + 2 * step_x[1:-1] + step_x[2:]
    along_y = step_y[:, :-2] + 2 * step_y[:, 1:-1] + step_y[:, 2:]
    return np.hypot(along_x, along_y)


def gradient_ratio(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Mean Sobel magnitude of the result's luminance over the hole over the truth's: 1.0
    carries as much detail as the photo did, a blur scores well below."""
    truth_detail = float(_gradient_magnitude(luminance(truth))[hole].mean())
    result_detail = float(_gradient_magnitude(luminance(result))[hole].mean())
    return result_detail / truth_detail if truth_detail > 0 else math.nan


def patch_swd(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Sliced Wasserstein distance (×100) between the mean-free 7×7 luminance patches lying
    wholly inside the hole, of the result and of the truth: lower is closer texture."""
    inside = _patch_positions(hole)
    if inside.shape[0] == 0:
        return math.nan
    directions = np.random.default_rng(TEXTURE_SEED).normal(
        size=(TEXTURE_PATCH * TEXTURE_PATCH, TEXTURE_DIRECTIONS)
    )
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    projected = [
        np.sort(_mean_free_patches(luminance(image), inside) @ directions, axis=0)
        for image in (result, truth)
    ]
    count = min(p.shape[0] for p in projected)
    quantiles = [p[np.linspace(0, p.shape[0] - 1, count).round().astype(int)] for p in projected]
    return float(np.abs(quantiles[0] - quantiles[1]).mean() * 100)


def _patch_positions(hole: np.ndarray) -> np.ndarray:
    """(n,2) top-left corners of the patches wholly inside the hole, at most
    TEXTURE_MAX_PATCHES of them, drawn with a fixed seed."""
    corners = np.argwhere(window_sums(hole, TEXTURE_PATCH) == TEXTURE_PATCH * TEXTURE_PATCH)
    if corners.shape[0] > TEXTURE_MAX_PATCHES:
        pick = np.random.default_rng(TEXTURE_SEED).choice(
            corners.shape[0], TEXTURE_MAX_PATCHES, replace=False
        )
        corners = corners[np.sort(pick)]
    return corners


def window_sums(mask: np.ndarray, size: int) -> np.ndarray:
    """(H,W) int: how many of mask's pixels lie in the size×size window whose top-left
    corner is each pixel (none counted outside the image), by an integral image."""
    height, width = mask.shape
    padded = np.pad(mask.astype(np.int64), ((1, size), (1, size)))
    integral = padded.cumsum(0).cumsum(1)
    return (
        integral[size : size + height, size : size + width]
        - integral[:height, size : size + width]
        - integral[size : size + height, :width]
        + integral[:height, :width]
    )


def _mean_free_patches(luma: np.ndarray, corners: np.ndarray) -> np.ndarray:
    offsets = np.arange(TEXTURE_PATCH)
    rows = corners[:, 0, None, None] + offsets[None, :, None]
    cols = corners[:, 1, None, None] + offsets[None, None, :]
    patches = luma[rows, cols].reshape(corners.shape[0], -1)
    return patches - patches.mean(axis=1, keepdims=True)
