"""Guided upsampling network (§3.3, Fig. 3b): ×2 from a low-resolution (LR) result, using
high-resolution (HR) patches of the known region.

Two shallow networks: a patch-similarity network on the LR result and a reconstruction
encoder–decoder (skip connections) on the HR input. Both feature maps are split into the
same grid of patches (a `cell`×`cell` LR patch ↔ a 2·cell × 2·cell HR patch); each HR patch
inside the hole is replaced by the softmax-weighted valid patches (Eq. 5–6) and two
convolutions ("ToRGB") turn the HR features into the output.

One departure, for a model trained on CPUs: ToRGB predicts the detail to add to the LR
result's bilinear upsampling rather than the whole colour, and starts at zero. The layout and
colour of the fill come from the iterative model (as they do in the paper, through the
similarity), the high-frequency detail only from the replaced valid HR patches; an
upsampler early in training blurs instead of painting 8 px blocks of wrong colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from iic_engine.model_config import UpsamplerConfig
from iic_engine.networks.layers import upsample2x
from iic_engine.networks.residual_output import clamp_to_image_range, zero_initialised_conv
from iic_engine.patch_replacement import DEFAULT_CHUNK, blend_source_patches


@dataclass(frozen=True)
class PatchGrid:
    """Per-cell classes of one image on the patch grid, each (N,) bool."""

    hole: torch.Tensor  # every pixel of the cell is in the hole (the paper's H)
    source: torch.Tensor  # ≥1 valid pixel and borrowing allowed (the paper's V, user-edited)
    partial: torch.Tensor  # valid cell that still contains hole pixels
    shape: tuple[int, int]


@dataclass(frozen=True)
class UpsamplerOutput:
    """image (B,3,2h,2w) in [-1,1]; unreplaced_hole (B,1,2h,2w): hole pixels that no
    patch replacement reached (in partially valid patches) — the caller re-runs the
    iterative model on them, as §3.3 says."""

    image: torch.Tensor
    unreplaced_hole: torch.Tensor


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.ELU())


class SimilarityNetwork(nn.Module):
    """LR result → one feature vector per cell (stride = cell)."""

    def __init__(self, config: UpsamplerConfig) -> None:
        super().__init__()
        assert config.cell == 4, "two stride-2 layers give one vector per 4×4 LR cell"
        c = config.similarity_channels
        self.layers = nn.Sequential(
            _conv(3, c // 2), _conv(c // 2, c, stride=2), nn.Conv2d(c, c, 3, 2, 1)
        )

    def forward(self, lr_result: torch.Tensor) -> torch.Tensor:
        return self.layers(lr_result)


class ReconstructionNetwork(nn.Module):
    """HR input (hole zeroed) + hole → HR feature map, U-Net with mirrored skips."""

    def __init__(self, config: UpsamplerConfig) -> None:
        super().__init__()
        c0, c1, c2 = config.reconstruction_channels
        self.enc0 = _conv(4, c0)
        self.enc1 = _conv(c0, c1, stride=2)
        self.enc2 = _conv(c1, c2, stride=2)
        self.dec1 = _conv(c2 + c1, c1)
        self.dec0 = _conv(c1 + c0, c0)

    def forward(self, hr_image: torch.Tensor, hr_hole: torch.Tensor) -> torch.Tensor:
        e0 = self.enc0(torch.cat([hr_image, hr_hole], dim=1))
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        d1 = self.dec1(torch.cat([upsample2x(e2), e1], dim=1))
        return self.dec0(torch.cat([upsample2x(d1), e0], dim=1))


def _reconstruction_input(
    hr_image: torch.Tensor, hr_hole: torch.Tensor, source_allowed: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forbidden pixels are hidden from the reconstruction network like hole pixels, so
    no feature patch — not even an allowed one next to them — carries their content."""
    if source_allowed is None:
        return hr_image, hr_hole
    unknown = torch.maximum(hr_hole, (~source_allowed).to(hr_hole.dtype))
    return hr_image * (1 - unknown), unknown


class GuidedUpsampler(nn.Module):
    def __init__(self, config: UpsamplerConfig | None = None) -> None:
        super().__init__()
        self.config = config or UpsamplerConfig()
        c0 = self.config.reconstruction_channels[0]
        self.similarity = SimilarityNetwork(self.config)
        self.reconstruction = ReconstructionNetwork(self.config)
        # The detail starts at zero: an untrained upsampler returns the upsampled LR result.
        self.to_rgb = nn.Sequential(_conv(c0, c0), zero_initialised_conv(c0))
        # Cosine similarities lie in [-1,1]; a learned temperature (contextual attention
        # fixes it at 10) lets the softmax of Eq. 6 become selective.
        self.softmax_scale = nn.Parameter(torch.tensor(self.config.initial_softmax_scale))

    @property
    def hr_patch(self) -> int:
        return 2 * self.config.cell

    def forward(
        self,
        lr_result: torch.Tensor,
        hr_image: torch.Tensor,
        hr_hole: torch.Tensor,
        source_allowed: torch.Tensor | None = None,
        run: WholeRun | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> UpsamplerOutput:
        """lr_result (B,3,h,w) completed LR image in [-1,1]; hr_image (B,3,2h,2w) with hole
        pixels 0; hr_hole (B,1,2h,2w) 1 = hole; source_allowed (B,1,2h,2w) bool or None:
        pixels that patches may be borrowed from (avoid/use regions, §3.3 and Fig. 8); run:
        how the parts are run (default: each whole, as in training)."""
        assert hr_image.shape[-2:] == tuple(2 * s for s in lr_result.shape[-2:])
        run = run or WHOLE_RUN
        grids = []
        for b in range(hr_image.shape[0]):
            allowed = None if source_allowed is None else source_allowed[b : b + 1]
            grids.append(run.sources(self.patch_grid(hr_hole[b : b + 1], allowed)))
        queries = run.similarity(self, lr_result, grids[0])
        recon_image, recon_hole = _reconstruction_input(hr_image, hr_hole, source_allowed)
        features = run.reconstruction(self, recon_image, recon_hole, grids[0])
        if features.requires_grad:
            features = features.clone()  # autograd needs the network's output unchanged
        for b, grid in enumerate(grids):
            self._replace(queries[b], features[b], grid, chunk)
        unreplaced = [
            self._unreplaced_hole(hr_hole[b : b + 1], grid) for b, grid in enumerate(grids)
        ]
        base = F.interpolate(lr_result, scale_factor=2, mode="bilinear", align_corners=False)
        image = run.to_image(self, features, base.to(features.dtype), hr_image, hr_hole)
        return UpsamplerOutput(image=image, unreplaced_hole=torch.cat(unreplaced))

    def decode(self, features: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """ToRGB: base (the upsampled LR result) + detail decoded from the features."""
        return clamp_to_image_range(base + self.to_rgb(features))

    def patch_grid(self, hr_hole: torch.Tensor, source_allowed: torch.Tensor | None) -> PatchGrid:
        """hr_hole (1,1,H,W); source_allowed (1,1,H,W) bool or None."""
        p = self.hr_patch
        hole_fraction = F.avg_pool2d(hr_hole.float(), p)
        hole = hole_fraction >= 1.0
        valid = hole_fraction < 1.0
        source = valid
        if source_allowed is not None:
            # A patch touching a forbidden pixel is removed from V (Fig. 8's "avoid").
            source = source & (F.avg_pool2d(source_allowed.float(), p) >= 1.0)
        partial = valid & (hole_fraction > 0)
        shape = (hole.shape[-2], hole.shape[-1])
        return PatchGrid(hole.view(-1), source.view(-1), partial.view(-1), shape)

    def _replace(
        self, queries: torch.Tensor, features: torch.Tensor, grid: PatchGrid, chunk: int
    ) -> None:
        """queries (Cs,gh,gw); features (C,H,W): hole patches replaced in place (Eq. 5).

        Only source patches are gathered and only hole patches written: no copy of the
        whole feature map, which at the last stage of a 24-megapixel photo is hundreds of MB.
        """
        hole_index = grid.hole.nonzero().squeeze(1)
        source_index = grid.source.nonzero().squeeze(1)
        if hole_index.numel() == 0 or source_index.numel() == 0:
            return
        p = self.hr_patch
        gh, gw = grid.shape
        channels = features.shape[0]
        # (gh, gw, C, p, p) view of the map: cell (y, x) is the patch under it.
        cells = features.view(channels, gh, p, gw, p).permute(1, 3, 0, 2, 4)
        similarity = queries.flatten(1).T
        source_y, source_x = source_index // gw, source_index % gw
        blended = blend_source_patches(
            similarity[hole_index],
            similarity[source_index],
            cells[source_y, source_x].reshape(source_index.numel(), -1),
            self.softmax_scale,
            self.config.top_k,
            chunk,
        )
        hole_y, hole_x = hole_index // gw, hole_index % gw
        cells[hole_y, hole_x] = blended.view(-1, channels, p, p)

    def _unreplaced_hole(self, hr_hole: torch.Tensor, grid: PatchGrid) -> torch.Tensor:
        not_replaced = ~grid.hole if bool(grid.source.any()) else torch.ones_like(grid.hole)
        cells = not_replaced.view(1, 1, *grid.shape).float()
        return hr_hole * F.interpolate(cells, scale_factor=self.hr_patch, mode="nearest")


class WholeRun:
    """How `forward` runs its parts: each on the whole input, every source patch kept (in
    training, and for small inputs). At inference on large stages a subclass runs them tile
    by tile, only where their output is read, with a bounded number of source patches
    (`iic_engine.upsampler_tiling.TiledRun`)."""

    def sources(self, grid: PatchGrid) -> PatchGrid:
        return grid

    def similarity(
        self, upsampler: GuidedUpsampler, lr_result: torch.Tensor, grid: PatchGrid
    ) -> torch.Tensor:
        return upsampler.similarity(lr_result)

    def reconstruction(
        self,
        upsampler: GuidedUpsampler,
        hr_image: torch.Tensor,
        hr_hole: torch.Tensor,
        grid: PatchGrid,
    ) -> torch.Tensor:
        return upsampler.reconstruction(hr_image, hr_hole)

    def to_image(
        self,
        upsampler: GuidedUpsampler,
        features: torch.Tensor,
        base: torch.Tensor,
        hr_image: torch.Tensor,
        hr_hole: torch.Tensor,
    ) -> torch.Tensor:
        return upsampler.decode(features, base)


WHOLE_RUN = WholeRun()
