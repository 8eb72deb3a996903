"""Which device runs the networks, and in what precision."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from iic_engine.errors import InpaintingError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def select_device(requested: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU for "auto"; a named device must exist."""
    if requested not in DEVICE_CHOICES:
        raise InpaintingError(
            "bad_device",
            f"Unknown device {requested!r}: choose one of {', '.join(DEVICE_CHOICES)}.",
        )
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise InpaintingError(
            "device_unavailable", "CUDA was asked for but no CUDA GPU is usable: use --device cpu."
        )
    if requested == "mps" and not _mps_available():
        raise InpaintingError(
            "device_unavailable", "MPS was asked for but is not available: use --device cpu."
        )
    return torch.device(requested)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@contextlib.contextmanager
def autocast_for(device: torch.device) -> Iterator[None]:
    """bfloat16 on CUDA GPUs that support it, float16 on MPS, full precision on the CPU
    (CPU bf16 autocast is slower than float32 on most laptop CPUs)."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        with torch.autocast("cuda", dtype=dtype):
            yield
    elif device.type == "mps":
        with torch.autocast("mps", dtype=torch.float16):
            yield
    else:
        yield
