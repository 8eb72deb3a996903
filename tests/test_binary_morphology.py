"""Erosion and dilation by a square (iic_engine.binary_morphology) against their definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iic_engine.binary_morphology import dilate, dilate_four_neighbour, erode


def _by_definition(mask: np.ndarray, radius: int, outside: bool, every: bool) -> np.ndarray:
    padded = np.pad(mask, radius, constant_values=outside)
    height, width = mask.shape
    windows = [
        padded[dy : dy + height, dx : dx + width]
        for dy in range(2 * radius + 1)
        for dx in range(2 * radius + 1)
    ]
    return np.all(windows, axis=0) if every else np.any(windows, axis=0)


@pytest.mark.parametrize("shape", [(1, 1), (5, 9), (40, 33)])
@pytest.mark.parametrize("radius", [0, 1, 3, 16])
@pytest.mark.parametrize("density", [0.3, 0.95, 1.0])
def test_erosion_and_dilation_follow_their_definition(shape, radius, density):
    rng = np.random.default_rng(radius + 7 * shape[0])
    mask = rng.random(shape) < density
    tensor = torch.from_numpy(mask)
    for outside in (False, True):
        expected = _by_definition(mask, radius, outside, every=True)
        assert np.array_equal(erode(tensor, radius, outside).numpy(), expected)
    expected = _by_definition(mask, radius, False, every=False)
    assert np.array_equal(dilate(tensor, radius).numpy(), expected)


def test_a_four_neighbour_step_grows_a_pixel_into_a_plus_on_any_leading_shape() -> None:
    mask = torch.zeros(2, 1, 5, 6, dtype=torch.bool)
    mask[0, 0, 2, 3] = True
    mask[1, 0, 0, 0] = True  # at the corner: nothing beyond the image is set
    grown = dilate_four_neighbour(mask)
    plus = torch.zeros(5, 6, dtype=torch.bool)
    plus[2, 2:5] = True
    plus[1:4, 3] = True
    assert torch.equal(grown[0, 0], plus)
    corner = torch.zeros(5, 6, dtype=torch.bool)
    corner[0, :2] = True
    corner[1, 0] = True
    assert torch.equal(grown[1, 0], corner)
    assert torch.equal(mask[0, 0].nonzero(), torch.tensor([[2, 3]]))  # the input is unchanged
