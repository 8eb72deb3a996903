"""Output layers that predict a correction to a first guess (generator and guided upsampler).

The correction starts at zero, so an untrained network returns its first guess; the sum is
kept in the image range by a straight-through clamp.
"""

from __future__ import annotations

import torch
from torch import nn


def zero_initialised_conv(in_channels: int, out_channels: int = 3) -> nn.Conv2d:
    """3×3 convolution whose output is 0 until it is trained."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    nn.init.zeros_(layer.weight)
    assert layer.bias is not None
    nn.init.zeros_(layer.bias)
    return layer


def clamp_to_image_range(x: torch.Tensor) -> torch.Tensor:
    """Values in [-1,1]. Straight-through: gradients still pull an out-of-range prediction
    back (a plain clamp would leave it there with zero gradient)."""
    return x + (x.clamp(-1, 1) - x).detach()
