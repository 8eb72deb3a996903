"""Wire bytes ↔ engine arrays, in one place.

Wire: pixels interleaved (H,W,C) row-major little-endian; masks H×W uint8 (0..255 = alpha);
the confidence map goes back as H×W uint8 (255 = confidence 1.0).
Engine: `image` (H,W,C) of the wire dtype, masks (H,W) uint8, confidence (H,W) float32 in [0,1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iic_client import protocol

CONFIDENCE_SCALE = 255.0


@dataclass(frozen=True)
class EngineInputs:
    image: np.ndarray  # (H,W,C) uint8 | uint16 | float16 | float32
    hole: np.ndarray  # (H,W) uint8, 0..255
    avoid: np.ndarray | None
    use: np.ndarray | None


def inputs_from_wire(submit: protocol.Submit, pixels: protocol.Pixels) -> EngineInputs:
    """Arrays of an already-checked job (see `protocol.check_pixels`); its blobs may be views
    of the received frames, which is why every array here is a copy."""
    wire_dtype = np.dtype(submit.dtype).newbyteorder("<")
    image = np.frombuffer(pixels.pixels, dtype=wire_dtype).reshape(
        submit.height, submit.width, submit.channels
    )
    return EngineInputs(
        image=image.astype(wire_dtype.newbyteorder("="), copy=True),
        hole=_mask(pixels.hole, submit),
        avoid=None if pixels.avoid is None else _mask(pixels.avoid, submit),
        use=None if pixels.use is None else _mask(pixels.use, submit),
    )


def image_to_wire(image: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(image, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def confidence_to_wire(confidence: np.ndarray) -> bytes:
    scaled = np.clip(np.rint(confidence * CONFIDENCE_SCALE), 0, CONFIDENCE_SCALE)
    return scaled.astype(np.uint8).tobytes()


def _mask(data: protocol.Blob, submit: protocol.Submit) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).reshape(submit.height, submit.width).copy()
