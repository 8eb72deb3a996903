"""Run a fully convolutional network tile by tile, so peak memory is bounded by the tile,
not by the image: the guided upsampler's last stages work on crops of many megapixels."""

from __future__ import annotations

from collections.abc import Callable

import torch

TILE = 512
# Larger than the receptive field of the networks tiled here (about 12 px), so tiles agree
# with an untiled run; a multiple of 4 so stride-2 grids stay aligned.
HALO = 32


def run_tiled(
    network: Callable[..., torch.Tensor],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    out_channels: int,
    needed: torch.Tensor | None = None,
    fill: torch.Tensor | None = None,
    tile: int = TILE,
    halo: int = HALO,
    output_stride: int = 1,
) -> torch.Tensor:
    """network: (1,C,h,w) → (1,out_channels,h/s,w/s), s = output_stride. inputs: (1,C,H,W),
    or a tuple of such tensors of the same size, passed to `network` as separate arguments
    (no concatenated copy of the whole image).

    needed: optional (1,1,H,W) bool; tiles without a needed pixel are skipped and keep
    `fill`'s values (zeros when fill is None).
    """
    tensors = inputs if isinstance(inputs, tuple) else (inputs,)
    first = tensors[0]
    s = output_stride
    assert first.shape[0] == 1 and tile % (4 * s) == 0 and halo % (4 * s) == 0
    assert all(t.shape[-2:] == first.shape[-2:] for t in tensors)
    height, width = first.shape[-2:]
    assert height % s == 0 and width % s == 0
    output = (
        fill.clone()
        if fill is not None
        else first.new_zeros((1, out_channels, height // s, width // s))
    )
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            if needed is not None and not bool(needed[..., top:bottom, left:right].any()):
                continue
            y0, x0 = max(0, top - halo), max(0, left - halo)
            y1, x1 = min(height, bottom + halo), min(width, right + halo)
            result = network(*(t[..., y0:y1, x0:x1] for t in tensors))
            output[..., top // s : bottom // s, left // s : right // s] = result[
                ..., (top - y0) // s : (bottom - y0) // s, (left - x0) // s : (right - x0) // s
            ]
    return output
