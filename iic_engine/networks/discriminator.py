"""SN-PatchGAN discriminator (§3.2; Yu et al. 2019, the paper's reference [40]).

Six 5×5 stride-2 convolutions with spectral normalisation and leaky ReLU; the output is a
score map, one score per receptive field (a patch of the input), not a single number. The
hole is an input channel so the discriminator knows where to look.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

KERNEL_SIZE = 5
LEAKY_SLOPE = 0.2


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Widths of the six convolutions (Yu et al. 2019 use 64 → 256).

    Half the free-form work's width: our generator is small (1.2 M parameters) and the
    checkpoint has to travel to the GPU machine with the data in 64 MiB.
    """

    channels: tuple[int, ...] = (32, 64, 128, 128, 128, 128)


class PatchDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config or DiscriminatorConfig()
        layers: list[nn.Module] = []
        in_channels = 4
        for i, out_channels in enumerate(self.config.channels):
            layers.append(
                spectral_norm(
                    nn.Conv2d(
                        in_channels, out_channels, KERNEL_SIZE, stride=2, padding=KERNEL_SIZE // 2
                    )
                )
            )
            if i < len(self.config.channels) - 1:
                layers.append(nn.LeakyReLU(LEAKY_SLOPE))
            in_channels = out_channels
        layers.append(spectral_norm(nn.Conv2d(in_channels, 1, kernel_size=1)))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """image (B,3,H,W) in [-1,1]; hole (B,1,H,W) → scores (B,1,H/64,W/64)."""
        return self.layers(torch.cat([image, hole.to(image.dtype)], dim=1))
