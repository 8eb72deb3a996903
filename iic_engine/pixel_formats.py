"""Conversion between the caller's pixels and the networks' working RGB, in one place.

Accepted: (H,W) or (H,W,C), C ∈ {1: grey, 2: grey+alpha, 3: RGB, 4: RGBA}; uint8, uint16,
float16, float32 (floats nominally in [0,1]). Only the crop being worked on is converted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iic_engine.errors import InpaintingError

INTEGER_MAXIMUM = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32))
CHANNEL_NAMES = {1: "grey", 2: "grey + alpha", 3: "RGB", 4: "RGBA"}


@dataclass(frozen=True)
class PixelLayout:
    dtype: np.dtype
    channels: int

    @property
    def colour_channels(self) -> int:
        return 1 if self.channels <= 2 else 3

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)


def describe_layout(image: np.ndarray) -> PixelLayout:
    """Check the image's shape and dtype at the boundary; raise what to do otherwise."""
    if not isinstance(image, np.ndarray):
        raise InpaintingError("bad_image", "The image must be a numpy array of pixels.")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in CHANNEL_NAMES):
        raise InpaintingError(
            "bad_shape",
            f"Unsupported image shape {image.shape}: expected height × width × 1, 2, 3 or 4 "
            "channels (grey, grey+alpha, RGB, RGBA). Convert the layer to RGB or greyscale.",
        )
    if image.dtype not in INTEGER_MAXIMUM and image.dtype not in FLOAT_DTYPES:
        raise InpaintingError(
            "bad_dtype",
            f"Unsupported pixel type {image.dtype}: use 8-bit, 16-bit integer, or 16/32-bit "
            "float pixels.",
        )
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise InpaintingError(
            "too_small", f"The image is {image.shape[1]}×{image.shape[0]}: at least 8×8 is needed."
        )
    channels = 1 if image.ndim == 2 else image.shape[2]
    return PixelLayout(dtype=image.dtype, channels=channels)


def check_finite(crop: np.ndarray) -> None:
    if crop.dtype in FLOAT_DTYPES and not np.isfinite(crop).all():
        raise InpaintingError(
            "bad_values",
            "The image contains NaN or infinite values near the selection. Clip or repair "
            "those pixels (e.g. convert to 16-bit) and try again.",
        )


def to_working(crop: np.ndarray, layout: PixelLayout) -> tuple[np.ndarray, np.ndarray | None]:
    """crop (h,w[,C]) → (rgb (h,w,3) float32 in [0,1], alpha (h,w) float32 or None)."""
    pixels = crop.reshape(crop.shape[0], crop.shape[1], layout.channels).astype(np.float32)
    if layout.dtype in INTEGER_MAXIMUM:
        pixels /= INTEGER_MAXIMUM[layout.dtype]
    colour = pixels[..., : layout.colour_channels]
    rgb = np.repeat(colour, 3, axis=2) if layout.colour_channels == 1 else colour
    alpha = pixels[..., -1] if layout.has_alpha else None
    if layout.dtype in INTEGER_MAXIMUM:
        return rgb, alpha  # in [0, 1] already
    return np.clip(rgb, 0.0, 1.0), alpha


def from_working(rgb: np.ndarray, alpha: np.ndarray | None, layout: PixelLayout) -> np.ndarray:
    """Inverse of to_working for the pixels being written: (n,3) [+ (n,)] → (n,C) in dtype."""
    colour = rgb.mean(axis=1, keepdims=True) if layout.colour_channels == 1 else rgb
    pixels = colour if alpha is None else np.concatenate([colour, alpha[:, None]], axis=1)
    if layout.dtype in INTEGER_MAXIMUM:
        maximum = INTEGER_MAXIMUM[layout.dtype]
        return np.clip(np.rint(pixels * maximum), 0, maximum).astype(layout.dtype)
    return pixels.astype(layout.dtype)


def check_mask(mask: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """A hole/avoid/use mask, checked at the boundary → (H,W) view (any value > 0 is set).

    bool; uint8 0..255 and uint16 0..65535 (soft selections); floats in [0,1].
    """
    if not isinstance(mask, np.ndarray):
        raise InpaintingError("bad_mask", f"The {name} mask must be a numpy array.")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.shape != shape:
        raise InpaintingError(
            "size_mismatch",
            f"The {name} mask is {_size(mask.shape)} but the image is {_size(shape)}: "
            "make the mask from the same image at the same size.",
        )
    if mask.dtype != np.bool_ and mask.dtype not in INTEGER_MAXIMUM and mask.dtype.kind != "f":
        raise InpaintingError(
            "bad_mask",
            f"The {name} mask has pixel type {mask.dtype}: use bool, 8-bit (0..255) or float "
            "(0..1) masks.",
        )
    return mask


def mask_alpha(mask: np.ndarray, name: str) -> np.ndarray:
    """A checked mask (or a crop of one) → float32 alpha in [0,1]."""
    if mask.dtype == np.bool_:
        return mask.astype(np.float32)
    if mask.dtype in INTEGER_MAXIMUM:
        return mask.astype(np.float32) / INTEGER_MAXIMUM[mask.dtype]
    alpha = mask.astype(np.float32)
    if not np.isfinite(alpha).all() or alpha.min() < 0.0 or alpha.max() > 1.0:
        raise InpaintingError(
            "bad_mask",
            f"The {name} mask has values outside 0..1 (or NaN): float masks are alpha, "
            "0 = keep, 1 = fill.",
        )
    return alpha


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]}" if len(shape) >= 2 else str(shape)
