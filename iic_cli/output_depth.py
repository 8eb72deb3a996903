"""The pixel depths each output format stores, and fitting a result into its file's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

UINT8, UINT16 = np.dtype(np.uint8), np.dtype(np.uint16)
FLOAT16, FLOAT32 = np.dtype(np.float16), np.dtype(np.float32)
# Pillow's format name → the depths it is written at (deepest last); other formats: 8-bit.
FORMAT_DEPTHS: dict[str, tuple[np.dtype, ...]] = {
    "PNG": (UINT8, UINT16),
    "TIFF": (UINT8, UINT16, FLOAT32),
}
FORMATS_WITHOUT_ALPHA = frozenset({"JPEG"})
DEPTH_NAMES = {
    UINT8: "8-bit",
    UINT16: "16-bit",
    FLOAT16: "16-bit float",
    FLOAT32: "32-bit float",
}
INTEGER_MAXIMUM = {UINT8: 255, UINT16: 65535}


def fit_to_format(pixels: np.ndarray, format_name: str, path: Path) -> tuple[np.ndarray, list[str]]:
    """pixels (H,W[,C]) in an engine dtype → pixels OUT's format stores, and a note for each
    thing the format made us drop (depth, transparency)."""
    notes: list[str] = []
    depths = FORMAT_DEPTHS.get(format_name, (UINT8,))
    if pixels.dtype not in depths:
        target = _deepest_fit(pixels.dtype, depths)
        if not (pixels.dtype == FLOAT16 and target == FLOAT32):
            notes.append(
                f"{path.name} is {format_name}, which stores at most {DEPTH_NAMES[depths[-1]]} "
                f"pixels: the {DEPTH_NAMES[pixels.dtype]} result was written as "
                f"{DEPTH_NAMES[target]}. Write a .tif (or .png) to keep the full depth."
            )
        pixels = _convert(pixels, target)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if format_name in FORMATS_WITHOUT_ALPHA and channels in (2, 4):
        pixels = pixels[..., : channels - 1]
        notes.append(
            f"{path.name} is {format_name}, which has no transparency: the alpha channel was "
            "left out. Write a .png or .tif to keep it."
        )
    return pixels, notes


def _deepest_fit(dtype: np.dtype, depths: tuple[np.dtype, ...]) -> np.dtype:
    if dtype.kind == "f" and FLOAT32 in depths:
        return FLOAT32
    return UINT16 if UINT16 in depths else UINT8


def _convert(pixels: np.ndarray, target: np.dtype) -> np.ndarray:
    if target.kind == "f":
        return pixels.astype(target)
    nominal: np.ndarray
    if pixels.dtype.kind == "f":
        nominal = np.clip(pixels.astype(np.float32), 0.0, 1.0)
    else:
        nominal = pixels.astype(np.float32) / INTEGER_MAXIMUM[pixels.dtype]
    return np.rint(nominal * INTEGER_MAXIMUM[target]).astype(target)
