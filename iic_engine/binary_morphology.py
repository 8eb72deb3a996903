"""Erosion and dilation of bool masks by a square, as shifted ANDs (and by one
four-neighbour step, as shifted ORs).

A square's erosion is one along rows, then one along columns, and each is the AND of
shifted copies over windows that double (1, 2, 4, … pixels wide): a handful of passes over
one byte per pixel. Max-pooling a float copy did the same about 80× slower on the CPU, and
the masks here are a stage window at native size, megapixels.
"""

from __future__ import annotations

import torch


def erode(mask: torch.Tensor, radius: int, outside: bool = False) -> torch.Tensor:
    """mask (H,W) bool → (H,W) bool: True where every pixel of the (2·radius + 1)² square
    around is set; pixels beyond the mask count as `outside`."""
    return _erode_along(_erode_along(mask, radius, 1, outside), radius, 0, outside)


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """mask (H,W) bool → (H,W) bool: True where any pixel of the square around is set."""
    return ~erode(~mask, radius, outside=True)


def dilate_four_neighbour(mask: torch.Tensor) -> torch.Tensor:
    """mask (..., H, W) bool → the same grown by one pixel to its four neighbours."""
    grown = mask.clone()
    grown[..., 1:, :] |= mask[..., :-1, :]
    grown[..., :-1, :] |= mask[..., 1:, :]
    grown[..., :, 1:] |= mask[..., :, :-1]
    grown[..., :, :-1] |= mask[..., :, 1:]
    return grown


def _erode_along(mask: torch.Tensor, radius: int, dim: int, outside: bool) -> torch.Tensor:
    if radius == 0:
        return mask
    size = 2 * radius + 1
    shape = list(mask.shape)
    shape[dim] = radius
    border = torch.full(shape, outside, dtype=torch.bool, device=mask.device)
    # covered[i] holds all of padded[i : i + width] along dim.
    covered, width = torch.cat([border, mask, border], dim=dim), 1
    while width < size:
        step = min(width, size - width)
        length = covered.shape[dim] - step
        covered = covered.narrow(dim, 0, length) & covered.narrow(dim, step, length)
        width += step
    return covered
