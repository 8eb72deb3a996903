"""The fine network's second decoder: a per-pixel confidence map in [0,1] (§3.2).

It reads every feature layer of the generation path up to the bottleneck (the dashed blocks
of Fig. 3a), so the confidence is aware of the whole generation, not only of its result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from iic_engine.networks.layers import GatedConv2d, SeparableGatedConv2d, upsample2x


class ConfidenceDecoder(nn.Module):
    """Encoder features at 1, 1/2, 1/4, 1/8 scale + bottleneck → sigmoid map at full size.

    Confidence is predicted at 1/4 resolution and upsampled bilinearly: Algorithm 1 only
    thresholds it, and a full-resolution decoder would cost as much as the image decoder.
    """

    def __init__(self, feature_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.fuse = GatedConv2d(sum(feature_channels), channels, kernel_size=1)
        self.context = SeparableGatedConv2d(channels, channels, dilation=2)
        self.refine = GatedConv2d(channels, channels // 2)
        self.to_logit = nn.Conv2d(channels // 2, 1, kernel_size=1)

    def forward(self, features: list[torch.Tensor], output_size: tuple[int, int]) -> torch.Tensor:
        bottleneck_size = (features[-1].shape[-2], features[-1].shape[-1])
        pooled = [F.adaptive_avg_pool2d(f, bottleneck_size) for f in features]
        x = self.context(self.fuse(torch.cat(pooled, dim=1)))
        x = self.refine(upsample2x(x))
        logit = F.interpolate(
            self.to_logit(x), size=output_size, mode="bilinear", align_corners=False
        )
        return torch.sigmoid(logit)
