"""The anisotropic membrane: a fill that carries the edges meeting the hole across it."""

from __future__ import annotations

import torch

from iic_engine.anisotropic_membrane import anisotropic_membrane, continue_edges
from iic_engine.networks.push_pull_fill import push_pull_fill


def _hole(height: int, width: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    hole = torch.zeros(1, 1, height, width)
    y0, y1, x0, x1 = box
    hole[..., y0:y1, x0:x1] = 1
    return hole


def _band_image(size: int = 96, rows: tuple[int, int] = (44, 52)) -> torch.Tensor:
    """Dark grey with a bright horizontal band: a horizon-like line across the frame."""
    image = torch.full((1, 3, size, size), -0.6)
    image[..., rows[0] : rows[1], :] = 0.8
    return image


def test_a_line_meeting_the_hole_is_continued_across_it_not_blurred() -> None:
    image, hole = _band_image(), _hole(96, 96, (28, 68, 30, 66))
    incomplete = image * (1 - hole)
    along = anisotropic_membrane(incomplete, hole)
    plain = anisotropic_membrane(incomplete, hole, sharpness=0)
    # At the hole's centre the band is 0.8 and the ground -0.6 (contrast 1.4).
    band_centre, ground_centre = along[0, :, 48, 48], along[0, :, 34, 48]
    assert (band_centre - ground_centre).min() > 1.0
    plain_contrast = plain[0, :, 48, 48] - plain[0, :, 34, 48]
    assert plain_contrast.max() < 0.7  # the isotropic fill spreads the band into a wedge
    error_along = ((along - image) ** 2).sum() / hole.sum()
    error_plain = ((plain - image) ** 2).sum() / hole.sum()
    assert error_along < 0.3 * error_plain


def test_known_pixels_come_back_unchanged() -> None:
    torch.manual_seed(0)
    image = torch.rand(1, 3, 40, 56) * 2 - 1
    hole = _hole(40, 56, (6, 30, 12, 44))
    filled = anisotropic_membrane(image * (1 - hole), hole)
    assert torch.equal(filled * (1 - hole), image * (1 - hole))
    inside = filled[..., 6:30, 12:44]  # a membrane never leaves the range of its border
    assert inside.min() >= image.min() - 1e-4 and inside.max() <= image.max() + 1e-4


def test_the_solver_reproduces_a_harmonic_surface_exactly() -> None:
    # x, x² − y² and x·y are harmonic on this symmetric stencil (every offset's weight is
    # 1/|e|², and each offset's dy² − dx² cancels against its mirror): the isotropic solve
    # must return them, which an unconverged or wrongly assembled system would not. The
    # plain membrane it starts from does not (the saddles).
    # One step per pixel on both axes: harmonic in pixel coordinates.
    rows, cols = (torch.arange(48) - 24) / 32, (torch.arange(64) - 32) / 32
    ys, xs = torch.meshgrid(rows, cols, indexing="ij")
    surface = torch.stack([0.8 * xs, 0.7 * (xs * xs - ys * ys), 0.9 * xs * ys])[None]
    hole = _hole(48, 64, (8, 40, 10, 54))
    assert (push_pull_fill(surface * (1 - hole), hole) - surface).abs().max() > 0.01
    filled = anisotropic_membrane(surface * (1 - hole), hole, sharpness=0)
    torch.testing.assert_close(filled, surface, atol=2e-3, rtol=0)


def test_without_a_hole_or_without_any_known_pixel_it_falls_back_to_the_membrane() -> None:
    torch.manual_seed(1)
    image = torch.rand(1, 3, 20, 24)
    nothing = torch.zeros(1, 1, 20, 24)
    assert torch.equal(anisotropic_membrane(image, nothing), image)
    everything = torch.ones(1, 1, 20, 24)
    torch.testing.assert_close(
        anisotropic_membrane(image * 0, everything), push_pull_fill(image * 0, everything)
    )


def test_continue_edges_changes_only_the_hole_and_moves_it_towards_the_line() -> None:
    image, hole = _band_image(), _hole(96, 96, (28, 68, 30, 66))
    incomplete = image * (1 - hole)
    smudge = push_pull_fill(incomplete, hole)  # a completion that lost the line
    continued = continue_edges(smudge, incomplete, hole)
    assert torch.equal(continued * (1 - hole), smudge * (1 - hole))
    error_before = ((smudge - image) ** 2).sum()
    error_after = ((continued - image) ** 2).sum()
    assert error_after < 0.5 * error_before


def test_continue_edges_mixes_the_membrane_in_and_adds_what_anisotropy_contributes() -> None:
    image, hole = _band_image(64, (28, 36)), _hole(64, 64, (20, 44, 18, 46))
    incomplete = image * (1 - hole)
    smudge = push_pull_fill(incomplete, hole)
    along = anisotropic_membrane(incomplete, hole)
    plain = anisotropic_membrane(incomplete, hole, sharpness=0)
    assert (along - plain).abs().max() > 0.1  # the line makes the two differ
    assert torch.equal(continue_edges(smudge, incomplete, hole, share=0.0, gain=0.0), smudge)
    torch.testing.assert_close(
        continue_edges(smudge, incomplete, hole, share=1.0, gain=0.0), along, atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        continue_edges(smudge, incomplete, hole, share=0.5, gain=0.25),
        (0.5 * (smudge + along) + 0.25 * (along - plain)).clamp(-1, 1),
        atol=1e-4,
        rtol=0,
    )
