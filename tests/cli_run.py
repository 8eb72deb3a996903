"""`iic-inpaint` run in-process as a person runs it, and the files it is given, for
tests/test_cli_*.py."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iic_cli.main import main


@dataclass(frozen=True)
class CliRun:
    code: int
    stderr: str


def iic_inpaint(*args: str | Path) -> CliRun:
    """Exit code and stderr of `iic-inpaint ARGS` (argparse refusals included)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return CliRun(code, stderr.getvalue())


def textured_photo(
    height: int, width: int, channels: int, maximum: int, seed: int = 0
) -> np.ndarray:
    """(H,W,C) float64 in [0, maximum]: a diagonal gradient plus fine noise, so every pixel
    differs and any change of depth, position or orientation shows."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    ramp = (rows / height * 0.6 + columns / width * 0.3)[..., None]
    tint = np.linspace(0.8, 1.0, channels)[None, None, :]
    noise = rng.random((height, width, channels)) * 0.1
    return (ramp * tint + noise) * maximum


def square_hole(height: int, width: int, top: int, left: int, side: int) -> np.ndarray:
    """(H,W) uint8, 255 inside a side×side square."""
    hole = np.zeros((height, width), np.uint8)
    hole[top : top + side, left : left + side] = 255
    return hole
