"""Coarse-to-fine generator with an image decoder and a confidence decoder (§3.2, Fig. 3a).

Design choices, each for the 12 GFLOPs-per-pass budget at 256×256 (Algorithm 1 runs the
generator four times, on a 2-core laptop CPU):
- Gated convolutions throughout, as in the free-form work the paper builds on.
- Both networks predict a residual on top of a first guess instead of the whole image: the
  coarse network refines a parameter-free membrane fill of the hole (`push_pull_fill.py`),
  the fine network refines the coarse completion. Their output layers start at zero, so an
  untrained generator already returns the membrane fill (which scores above OpenCV's Telea
  and Navier–Stokes on dev-eval) and every training step, on a CPU budget of a few thousand
  steps, goes into what a smooth fill gets wrong: structure and texture. Residuals apply
  inside the hole only: known pixels pass through exactly, so the L1 on them cannot pin a
  residual that starts at zero (its gradient there would be ±1 for any residual, 0 for
  none). The paper's networks start from zeros in the hole; on its GPU budget that costs
  nothing, on ours it costs the model.
- The coarse network downsamples in its first layer and predicts at half resolution; its
  output is only a rough layout that the fine network refines.
- Bottlenecks at 1/8 resolution use dilated depthwise-separable gated residual blocks
  (receptive field > 256 px at a fraction of the cost of dense 3×3 layers).
- The fine network is a U-Net: skip connections carry full-resolution texture from the
  known region to the image decoder, which is what keeps the fill sharp without the
  contextual-attention branch of DeepFill v2 (whose role the guided upsampler takes at
  high resolution, §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from iic_engine.model_config import GeneratorConfig
from iic_engine.networks.confidence_decoder import ConfidenceDecoder
from iic_engine.networks.layers import GatedConv2d, ResidualGatedBlock, upsample2x
from iic_engine.networks.push_pull_fill import push_pull_fill
from iic_engine.networks.residual_output import clamp_to_image_range, zero_initialised_conv

# Total stride of both networks: inputs must have sides divisible by it.
SIZE_MULTIPLE = 8


@dataclass(frozen=True)
class GeneratorOutput:
    """coarse, image: (B,3,H,W) in [-1,1]; confidence: (B,1,H,W) in [0,1]."""

    coarse: torch.Tensor
    image: torch.Tensor
    confidence: torch.Tensor


def _network_input(z: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    # The constant ones channel lets convolutions see the zero-padded border as "outside".
    return torch.cat([z, hole, torch.ones_like(hole)], dim=1)


class CoarseNetwork(nn.Module):
    """Incomplete image + hole → coarse completed image (push-pull fill + a residual)."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        c0, c1, c2 = config.coarse_channels
        d1, d0 = config.coarse_decoder_channels
        self.encoder = nn.Sequential(
            GatedConv2d(5, c0, kernel_size=5, stride=2),
            GatedConv2d(c0, c1, stride=2),
            GatedConv2d(c1, c2, stride=2),
            *[ResidualGatedBlock(c2, d) for d in config.coarse_bottleneck_dilations],
        )
        self.up1 = GatedConv2d(c2, d1)
        self.up0 = GatedConv2d(d1, d0)
        self.to_residual = zero_initialised_conv(d0)

    def forward(self, z: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        guess = push_pull_fill(z, hole)
        x = self.encoder(_network_input(guess, hole))
        x = self.up0(upsample2x(self.up1(upsample2x(x))))
        residual = F.interpolate(
            self.to_residual(x), size=z.shape[-2:], mode="bilinear", align_corners=False
        )
        return clamp_to_image_range(guess + residual * hole)


class FineNetwork(nn.Module):
    """One encoder, two decoders: image (a residual on the coarse completion) and confidence."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        f0, f1, f2, f3 = config.fine_channels
        self.encoder = nn.ModuleList(
            [
                GatedConv2d(5, f0),
                GatedConv2d(f0, f1, stride=2),
                GatedConv2d(f1, f2, stride=2),
                GatedConv2d(f2, f3, stride=2),
            ]
        )
        self.bottleneck = nn.Sequential(
            *[ResidualGatedBlock(f3, d) for d in config.fine_bottleneck_dilations]
        )
        self.image_decoder = nn.ModuleList(
            [GatedConv2d(f3 + f2, f2), GatedConv2d(f2 + f1, f1), GatedConv2d(f1 + f0, f0)]
        )
        self.to_residual = zero_initialised_conv(f0)
        self.confidence_decoder = ConfidenceDecoder(
            (f0, f1, f2, f3, f3), config.confidence_channels
        )

    def forward(self, x: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips: list[torch.Tensor] = []
        features = _network_input(x, hole)
        for layer in self.encoder:
            features = layer(features)
            skips.append(features)
        bottleneck = self.bottleneck(features)
        decoded = bottleneck
        for layer, skip in zip(self.image_decoder, reversed(skips[:-1]), strict=True):
            decoded = layer(torch.cat([upsample2x(decoded), skip], dim=1))
        image = clamp_to_image_range(x + self.to_residual(decoded) * hole)
        confidence = self.confidence_decoder([*skips, bottleneck], output_size=x.shape[-2:])
        return image, confidence


class Generator(nn.Module):
    """Coarse network cascaded into the fine network (Fig. 3a)."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config or GeneratorConfig()
        self.coarse = CoarseNetwork(self.config)
        self.fine = FineNetwork(self.config)

    def forward(self, z: torch.Tensor, hole: torch.Tensor) -> GeneratorOutput:
        """z: (B,3,H,W) in [-1,1], hole pixels 0; hole: (B,1,H,W) in {0,1}; H, W % 8 == 0."""
        assert z.shape[-2] % SIZE_MULTIPLE == 0 and z.shape[-1] % SIZE_MULTIPLE == 0, z.shape
        coarse = self.coarse(z, hole)
        coarse_completed = z * (1 - hole) + coarse * hole
        image, confidence = self.fine(coarse_completed, hole)
        return GeneratorOutput(coarse=coarse, image=image, confidence=confidence)
