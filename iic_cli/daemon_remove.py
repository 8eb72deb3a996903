"""`iic-inpaint remove --daemon`: the same removal, run by the daemon instead of in-process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from iic_client import DaemonClient, JobProgress, RemovalRequest

MASK_MAX = 255


def remove_through_daemon(
    image: np.ndarray,
    hole: np.ndarray,
    avoid: np.ndarray | None,
    use: np.ndarray | None,
    iterations: int,
    on_progress: Callable[[JobProgress], None] | None,
    connection_file: Path | None = None,
    texture: str = "patches",
    grow_px: int = 0,
    want_confidence: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The filled image (same shape and dtype) and, if wanted, the confidence map (H,W)
    float32 in [0,1] (else None).

    Masks may be bool, uint8 (0..255 alpha) or float (0..1 alpha), as for the engine.
    `connection_file`: where the daemon is found (default: the user runtime directory).
    Raises `iic_client.ClientError` (e.g. `DaemonNotRunning`) with a message that says what to do.
    """
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    wire_dtype = image.dtype.newbyteorder("<")
    request = RemovalRequest(
        width=width,
        height=height,
        channels=channels,
        dtype=image.dtype.name,
        pixels=np.ascontiguousarray(image, dtype=wire_dtype).tobytes(),
        hole=mask_to_wire(hole),
        avoid=None if avoid is None else mask_to_wire(avoid),
        use=None if use is None else mask_to_wire(use),
        iterations=iterations,
        want_confidence=want_confidence,
        texture=texture,
        grow_px=grow_px,
    )
    with DaemonClient.connect(connection_file) as client:
        result = client.submit(request).wait(on_progress=on_progress)
    note = result.stats.get("note")
    if note:
        print(f"iic-inpaint: {note}", file=sys.stderr)
    filled = np.frombuffer(result.pixels, dtype=wire_dtype).reshape(image.shape)
    confidence = None
    if result.confidence is not None:
        confidence_bytes = np.frombuffer(result.confidence, dtype=np.uint8).reshape(height, width)
        confidence = confidence_bytes.astype(np.float32) / MASK_MAX
    return filled.astype(image.dtype), confidence


def mask_to_wire(mask: np.ndarray) -> bytes:
    """H×W uint8 alpha bytes (0..255) from a bool, uint8 or float (0..1) mask."""
    if mask.dtype == np.bool_:
        alpha = mask.astype(np.uint8) * MASK_MAX
    elif mask.dtype == np.uint8:
        alpha = mask
    else:
        alpha = np.rint(np.clip(mask.astype(np.float32), 0.0, 1.0) * MASK_MAX).astype(np.uint8)
    return np.ascontiguousarray(alpha).tobytes()
