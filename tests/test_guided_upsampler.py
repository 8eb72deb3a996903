"""The guided upsampling network's valid patch set V, and the user's avoid/use regions
(§3.3, Fig. 8): the fill may borrow only from V."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from iic_engine.networks.guided_upsampler import GuidedUpsampler
from iic_engine.patch_replacement import limit_sources

LR = 64
HR = 2 * LR


def _scene(seed: int = 0):
    """A hole in the middle-left; region A (far right) holds the texture the LR result
    predicts inside the hole — the best match — and region B (bottom-left) another one."""
    torch.manual_seed(seed)
    stripes = (torch.arange(HR) // 4 % 2).float().view(1, 1, 1, HR).expand(1, 3, HR, HR) * 2 - 1
    hr = torch.rand(1, 3, HR, HR) * 0.2 - 0.6
    region_a = (slice(None), slice(None), slice(8, 56), slice(96, 128))
    hr[region_a] = stripes[region_a]
    hole = torch.zeros(1, 1, HR, HR)
    hole[..., 16:48, 16:48] = 1
    lr_result = torch.nn.functional.avg_pool2d(hr, 2)
    lr_result[..., 8:24, 8:24] = torch.nn.functional.avg_pool2d(stripes, 2)[..., 8:24, 8:24]
    mask_a = torch.zeros(1, 1, HR, HR, dtype=torch.bool)
    mask_a[..., 8:56, 96:128] = True
    mask_b = torch.zeros(1, 1, HR, HR, dtype=torch.bool)
    mask_b[..., 96:128, 0:48] = True
    return lr_result, hr, hole, mask_a, mask_b


def _fill(upsampler, lr_result, hr, hole, allowed):
    with torch.no_grad():
        output = upsampler(lr_result, hr * (1 - hole), hole, allowed)
    return output.image[..., 16:48, 16:48]


@pytest.fixture(scope="module")
def upsampler() -> GuidedUpsampler:
    torch.manual_seed(1)
    upsampler = GuidedUpsampler().eval()
    # ToRGB's detail layer starts at zero (output = upsampled LR result): give it weights so
    # the replaced patches show in the output, as they do after training.
    upsampler.to_rgb[1].reset_parameters()
    return upsampler


def _perturbed(hr, mask):
    changed = hr.clone()
    changed[mask.expand_as(hr)] = -changed[mask.expand_as(hr)]
    return changed


def test_best_match_region_feeds_the_fill_without_avoid(upsampler) -> None:
    lr_result, hr, hole, mask_a, _ = _scene()
    before = _fill(upsampler, lr_result, hr, hole, None)
    after = _fill(upsampler, lr_result, _perturbed(hr, mask_a), hole, None)
    assert (before - after).abs().max() > 1e-3


def test_avoid_region_no_longer_feeds_the_fill(upsampler) -> None:
    lr_result, hr, hole, mask_a, _ = _scene()
    allowed = ~mask_a
    before = _fill(upsampler, lr_result, hr, hole, allowed)
    after = _fill(upsampler, lr_result, _perturbed(hr, mask_a), hole, allowed)
    assert torch.equal(before, after)


def test_use_region_is_the_only_source(upsampler) -> None:
    lr_result, hr, hole, mask_a, mask_b = _scene()
    before = _fill(upsampler, lr_result, hr, hole, mask_b)
    # Everything outside B (A included, the best match) may change: the fill must not.
    outside_b = ~mask_b
    outside_b[..., 8:56, 8:56] = False  # the hole's own neighbourhood is context, not source
    after = _fill(upsampler, lr_result, _perturbed(hr, outside_b), hole, mask_b)
    assert torch.equal(before, after)
    changed_b = _fill(upsampler, lr_result, _perturbed(hr, mask_b), hole, mask_b)
    assert (before - changed_b).abs().max() > 1e-3


def test_partially_valid_patches_are_reported_unreplaced(upsampler) -> None:
    lr_result, hr, hole, _, _ = _scene()
    hole[..., 16:47, 16:47] = 0
    hole[..., 18:45, 18:45] = 1  # edges not on the 8-px patch grid
    with torch.no_grad():
        output = upsampler(lr_result, hr * (1 - hole), hole)
    unreplaced = output.unreplaced_hole[0, 0]
    assert bool(unreplaced[18, 18]) and not bool(unreplaced[30, 30])
    assert torch.equal(unreplaced.bool() & ~hole[0, 0].bool(), torch.zeros_like(unreplaced.bool()))


def test_untrained_upsampler_returns_the_upsampled_low_resolution_result() -> None:
    lr_result, hr, hole, _, _ = _scene()
    with torch.no_grad():
        output = GuidedUpsampler().eval()(lr_result, hr * (1 - hole), hole)
    expected = torch.nn.functional.interpolate(
        lr_result, scale_factor=2, mode="bilinear", align_corners=False
    ).clamp(-1, 1)
    torch.testing.assert_close(output.image, expected)


def test_tiled_inference_on_a_large_crop_equals_the_whole_crop_run(monkeypatch) -> None:
    """Large crops run the reconstruction only on tiles holding kept sources or partly
    valid patches, and ToRGB only on tiles touching the hole: the fill must not change."""
    from iic_engine import upsampler_tiling as module

    torch.manual_seed(3)
    upsampler = GuidedUpsampler().eval()
    upsampler.to_rgb[1].reset_parameters()
    side = 768
    hr = torch.rand(1, 3, side, side) * 2 - 1
    hole = torch.zeros(1, 1, side, side)
    hole[..., 300:470, 250:520] = 1
    lr_result = torch.nn.functional.avg_pool2d(hr, 2)

    grid = upsampler.patch_grid(hole, None)
    kept = limit_sources(grid.source, grid.hole, grid.shape, 1500)

    def fill() -> torch.Tensor:
        with torch.no_grad():
            output = upsampler(lr_result, hr * (1 - hole), hole, run=module.TiledRun(kept))
        return output.image * hole

    tiled = fill()
    monkeypatch.setattr(module, "TILED_ABOVE", side * side)
    whole = fill()
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)
    assert whole.abs().sum() > 0


def test_band_tiles_are_found_from_box_sums_exactly_as_by_visiting_every_tile() -> None:
    from iic_engine.guided_upsampling import (
        REFINE_TILE,
        _core,
        _tile_starts,
        _tiles_with_hole_in_core,
    )

    generator = torch.Generator().manual_seed(0)
    for height, width in [(32, 32), (40, 100), (203, 97), (8, 48)]:
        for density in (0.0005, 0.01, 0.3):
            hole = (torch.rand(1, 1, height, width, generator=generator) < density).float()
            tile_h, tile_w = min(REFINE_TILE, height), min(REFINE_TILE, width)
            visited = [
                (top, left)
                for top in _tile_starts(height, tile_h)
                for left in _tile_starts(width, tile_w)
                if bool(
                    (
                        hole[..., top : top + tile_h, left : left + tile_w]
                        * _core(top, left, tile_h, tile_w, height, width, hole)
                    ).any()
                )
            ]
            assert _tiles_with_hole_in_core(hole, tile_h, tile_w) == visited


def test_each_stage_works_on_a_window_and_the_cascade_does_not_change(monkeypatch) -> None:
    """Stages run on the cells they read plus a halo; the result must equal a run on the
    whole of every level (sources limited so the window is much smaller than the level)."""
    from iic_engine import guided_upsampling as cascade

    torch.manual_seed(5)
    upsampler = GuidedUpsampler().eval()
    upsampler.to_rgb[1].reset_parameters()  # non-zero detail, so the features matter
    side = 512
    y, x = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    image = (torch.sin(x / 5.0) * torch.cos(y / 7.0)).expand(1, 3, side, side).clone()
    image += 0.1 * torch.rand(1, 3, side, side)
    hole = torch.zeros(1, 1, side, side)
    hole[..., 200:290, 230:330] = 1
    hole[..., 290:293, 250:260] = 1  # a thin part: partly valid patches for the band pass
    pyramid = cascade.build_pyramid(image, hole, None, stages=2)
    lr_result = pyramid.images[0].clone()

    def generate(z, m):  # fills with the mean of the known pixels, confident everywhere
        known = (z * (1 - m)).sum(dim=(2, 3), keepdim=True) / (1 - m).sum(dim=(2, 3), keepdim=True)
        return z * (1 - m) + known * m, torch.ones_like(m)

    windows = []

    def recorded(*args):
        window = cascade_window(*args)
        windows.append(window)
        return window

    cascade_window = cascade.stage_window
    monkeypatch.setattr(cascade, "stage_window", recorded)
    limits = []
    original_limit = cascade.limit_sources

    def counted_limit(*args, **kwargs):
        limits.append(args[-1])
        return original_limit(*args, **kwargs)

    monkeypatch.setattr(cascade, "limit_sources", counted_limit)
    with torch.no_grad():
        windowed = cascade.upsample_cascade(upsampler, generate, lr_result, pyramid, 300)
    # The source limit is chosen once per stage, on the whole level, and the stage's run
    # reuses it on its window.
    assert len(limits) == 2
    monkeypatch.setattr(
        cascade,
        "stage_window",
        lambda u, h, a, m: dataclasses.replace(
            cascade_window(u, h, a, m), rows=slice(0, h.shape[-2]), cols=slice(0, h.shape[-1])
        ),
    )
    with torch.no_grad():
        whole = cascade.upsample_cascade(upsampler, generate, lr_result, pyramid, 300)
    last_rows, last_cols = windows[-1].rows, windows[-1].cols
    assert (last_rows.stop - last_rows.start) * (last_cols.stop - last_cols.start) < side * side / 2
    torch.testing.assert_close(windowed, whole, atol=1e-5, rtol=1e-5)
    assert torch.equal(windowed * (1 - hole), image * (1 - hole))
