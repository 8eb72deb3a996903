"""The losses of §3.2 against values worked out by hand on two-pixel images."""

from __future__ import annotations

import math

import pytest
import torch

from iic_engine.training.losses import (
    adversarial_share,
    coarse_loss,
    confidence_loss,
    discriminator_loss,
    inpainting_loss,
    structure_loss,
)


def _pixels(*values: float) -> torch.Tensor:
    """A (1,1,1,N) image: the losses are shape-agnostic, so one channel keeps sums short."""
    return torch.tensor(values, dtype=torch.float64).reshape(1, 1, 1, -1)


def sum_discriminator(image: torch.Tensor) -> torch.Tensor:
    """A stand-in D whose score is the image's sum: its hinge terms are easy to compute."""
    return image.sum(dim=(1, 2, 3), keepdim=True)


def test_discriminator_hinge_loss_is_eq_1() -> None:
    real = torch.tensor([0.5, 2.0, -1.0])  # ReLU(1 − D): 0.5, 0, 2
    fake = torch.tensor([-2.0, 0.5])  # ReLU(1 + D): 0, 1.5
    assert discriminator_loss(real, fake).item() == pytest.approx(2.5 / 3 + 0.75)


def test_coarse_loss_is_mean_absolute_error() -> None:
    assert coarse_loss(_pixels(0.5, -1.0), _pixels(0.0, 0.0)).item() == pytest.approx(0.75)


def test_inpainting_loss_is_eq_2() -> None:
    y, x, z, m = _pixels(0.5, -0.5), _pixels(0.0, 0.0), _pixels(0.0, 0.0), _pixels(1.0, 0.0)
    # D(y∘m + z) = 0.5 → ReLU(1 − 0.5) = 0.5; ‖y − x‖₁ = mean(0.5, 0.5) = 0.5.
    assert inpainting_loss(y, x, z, m, sum_discriminator).item() == pytest.approx(1.0)
    assert inpainting_loss(y, x, z, m, sum_discriminator, 0.1).item() == pytest.approx(0.55)


def test_confidence_loss_is_eq_3_with_a_known_confidence_map() -> None:
    y, x, z, m = _pixels(0.5, -0.5), _pixels(0.0, 0.0), _pixels(0.0, 0.0), _pixels(1.0, 0.0)
    c = _pixels(0.8, 0.25)
    # y∘c + x∘(1 − c) = (0.4, −0.125); D((0.4, 0)) = 0.4 → hinge 0.6; L1 = (0.4 + 0.125) / 2.
    # (1 − c)∘m = (0.2, 0): sums over the 2 elements, divided by 2: L1 = 0.1, L2 = 0.2 / 2.
    expected = 0.6 + 0.2625 + 0.1 * (0.1 + math.sqrt(0.04) / 2)
    loss = confidence_loss(y, x, z, m, c, sum_discriminator, confidence_lambda=0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_confidence_rises_where_the_output_is_right_and_falls_where_it_is_wrong() -> None:
    """The point of Eq. 3: its gradient asks for confidence only on low-loss pixels."""
    y, x = _pixels(0.0, 1.0), _pixels(0.0, 0.0)
    m = _pixels(1.0, 1.0)
    c = _pixels(0.5, 0.5).requires_grad_(True)
    confidence_loss(y, x, x * (1 - m), m, c, lambda image: torch.zeros(1), 0.1).backward()
    gradient = c.grad.flatten()
    assert gradient[0] < 0 < gradient[1]


def test_a_pixel_is_trusted_when_its_error_summed_over_channels_is_below_lambda() -> None:
    """The paper's proportions: the error of a pixel is summed over its colour channels.
    Half the hole errs by 0.02 per channel (0.06 < λ), half by 0.05 (0.15 > λ). With 50 hole
    pixels the L2 term adds λ/√50 to the threshold, which leaves it between the two."""
    x = torch.zeros(1, 3, 1, 64, dtype=torch.float64)
    y = x.clone()
    y[..., :25], y[..., 25:50] = 0.02, 0.05
    m = torch.zeros(1, 1, 1, 64, dtype=torch.float64)
    m[..., :50] = 1
    c = torch.full((1, 1, 1, 64), 0.5, dtype=torch.float64, requires_grad=True)
    confidence_loss(y, x, x * (1 - m), m, c, lambda image: torch.zeros(1), 0.1).backward()
    gradient = c.grad.flatten()
    assert gradient[0] < 0 < gradient[25]


def test_structure_loss_scores_the_composite_s_low_frequencies_by_squared_error() -> None:
    target = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 8:24, 8:24] = 1
    # Outside the hole the composite is the target: what the output says there is not scored.
    elsewhere = target + 5 * (1 - hole)
    assert structure_loss(elsewhere, target, hole, sigma=2.0) == 0
    # A ±0.2 checkerboard and a +0.2 offset have the same L1; only the offset moves the
    # low frequencies, so it costs far more.
    rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = ((rows + cols) % 2 * 2 - 1).float() * 0.2
    grain = structure_loss(target + checker, target, hole, sigma=2.0)
    offset = structure_loss(target + 0.2, target, hole, sigma=2.0)
    assert grain < 0.01 * offset
    # Squared, not absolute: twice the offset costs four times as much.
    doubled = structure_loss(target + 0.4, target, hole, sigma=2.0)
    assert float(doubled) == pytest.approx(4 * float(offset), rel=1e-4)


def test_the_adversarial_share_is_held_at_zero_then_ramps_linearly_to_one() -> None:
    shares = [adversarial_share(step, hold_steps=2, ramp_steps=4) for step in range(8)]
    assert shares == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert adversarial_share(0, hold_steps=0, ramp_steps=0) == 1.0  # the paper's schedule
    assert adversarial_share(3, hold_steps=3, ramp_steps=0) == 1.0
