"""IIC Inpaint engine: iterative confidence-feedback inpainting with guided upsampling
(Zeng et al., ECCV 2020). Arrays in, arrays out; `Inpainter` is the one entry point."""

from iic_engine.errors import InpaintingError, RemovalCancelled, WeightsError
from iic_engine.inpainter import Inpainter
from iic_engine.removal import EngineLimits, Progress, RemovalResult, RemovalStats

__all__ = [
    "EngineLimits",
    "Inpainter",
    "InpaintingError",
    "Progress",
    "RemovalCancelled",
    "RemovalResult",
    "RemovalStats",
    "WeightsError",
]
