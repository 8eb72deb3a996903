"""The push-pull first guess and the residual generator built on it."""

from __future__ import annotations

import torch

from iic_engine.networks import push_pull_fill as push_pull_module
from iic_engine.networks.generator import Generator
from iic_engine.networks.push_pull_fill import push_pull_fill


def _hole(height: int, width: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    hole = torch.zeros(1, 1, height, width)
    y0, y1, x0, x1 = box
    hole[..., y0:y1, x0:x1] = 1
    return hole


def test_known_pixels_are_kept_exactly_and_the_hole_is_filled() -> None:
    torch.manual_seed(0)
    image = torch.rand(2, 3, 37, 53)
    hole = _hole(37, 53, (5, 30, 10, 41))
    filled = push_pull_fill(image * (1 - hole), hole)
    assert torch.equal(filled * (1 - hole), image * (1 - hole))
    inside = filled[..., 5:30, 10:41]
    assert inside.min() >= image.min() and inside.max() <= image.max()


def test_a_hole_in_a_flat_image_becomes_that_colour() -> None:
    image = torch.full((1, 3, 64, 64), 0.25)
    image[:, 1] = -0.5
    hole = _hole(64, 64, (8, 60, 3, 50))
    filled = push_pull_fill(image * (1 - hole), hole)
    torch.testing.assert_close(filled, image)


def test_the_fill_follows_the_nearer_border() -> None:
    # Left half dark, right half bright, a hole across the middle: each side of the hole
    # takes its colour from the border next to it, not a global mean.
    image = torch.zeros(1, 1, 64, 64)
    image[..., 32:] = 1
    hole = _hole(64, 64, (16, 48, 16, 48))
    filled = push_pull_fill(image * (1 - hole), hole)
    assert filled[0, 0, 32, 18] < 0.25
    assert filled[0, 0, 32, 45] > 0.75


def test_a_feathered_hole_blends_with_the_known_pixel() -> None:
    image = torch.ones(1, 1, 16, 16)
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 4:12, 4:12] = 1
    hole[..., 8, 2] = 0.5
    filled = push_pull_fill(image * (1 - hole), hole)
    torch.testing.assert_close(filled[0, 0, 8, 2], torch.tensor(1.0))


def test_an_untrained_generator_returns_the_push_pull_fill() -> None:
    # Residual outputs start at zero: before training, coarse and fine outputs are the
    # first guess, and every output stays in the image range.
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    hole = _hole(64, 64, (16, 40, 20, 52))
    z = image * (1 - hole)
    output = Generator()(z, hole)
    guess = push_pull_fill(z, hole)
    torch.testing.assert_close(output.coarse, guess)
    torch.testing.assert_close(output.image, guess)


def test_outputs_stay_in_range_and_gradients_pass_the_clamp() -> None:
    torch.manual_seed(0)
    generator = Generator()
    with torch.no_grad():
        generator.fine.to_residual.bias.fill_(5.0)  # push every output far above 1
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    hole = _hole(32, 32, (8, 24, 8, 24))
    output = generator(image * (1 - hole), hole)
    assert output.image.max() <= 1 and output.image.min() >= -1
    output.image.sum().backward()
    assert generator.fine.to_residual.bias.grad is not None
    assert generator.fine.to_residual.bias.grad.abs().min() > 0


def test_sweeping_only_around_the_hole_changes_nothing(monkeypatch) -> None:
    """The sweeps run on the box of free pixels plus a ring; the fill must be the one that
    sweeping every pixel gives, at the image's edge, with soft edges and in a batch."""
    torch.manual_seed(2)
    image = torch.rand(2, 3, 70, 90) * 2 - 1
    hole = torch.zeros(2, 1, 70, 90)
    hole[0, :, 10:30, 20:45] = 1
    hole[0, :, 9, 20:45] = 0.5  # feathered edge
    hole[1, :, 50:70, 0:12] = 1  # touching the image's edge

    def every_pixel(share: torch.Tensor) -> tuple[slice, ...]:
        return (slice(None),) * share.dim()

    for rows in (slice(0, 2), slice(0, 1)):  # the batch's boxes join; one interior box
        incomplete = image[rows] * (1 - hole[rows])
        boxed = push_pull_fill(incomplete, hole[rows])
        with monkeypatch.context() as patch:
            patch.setattr(push_pull_module, "_free_region", every_pixel)
            everywhere = push_pull_fill(incomplete, hole[rows])
        torch.testing.assert_close(boxed, everywhere, atol=1e-6, rtol=0)
