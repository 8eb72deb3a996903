"""The guided upsampler at inference on large stages: each of its parts runs tile by tile,
only where its output is read, and with a bounded number of source patches, so a stage of a
24-megapixel photo costs what its hole and nearby sources cost, not what the crop does."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from iic_engine.networks.guided_upsampler import GuidedUpsampler, PatchGrid, WholeRun
from iic_engine.tiled_inference import run_tiled

# Inputs larger than this (pixels) are processed tile by tile.
TILED_ABOVE = 512 * 512
# The reconstruction network runs only on tiles holding a kept source or a partly valid
# patch: smaller tiles skip more of a large crop. Its receptive field is ~12 px, so a 16 px
# halo keeps tiles equal to an untiled run.
RECONSTRUCTION_TILE = 256
RECONSTRUCTION_HALO = 16
# The similarity network runs on the LR image; its receptive field is ~15 px, and tiles and
# halos are multiples of its output stride (4) so the cell grid stays aligned.
SIMILARITY_TILE = 128
SIMILARITY_HALO = 16


@dataclass(frozen=True, eq=False)
class TiledRun(WholeRun):
    """The source cells the caller kept; parts tiled on inputs over TILED_ABOVE pixels, one
    image at a time, outside training.

    kept: the source cells (flattened, the input's cell grid) already chosen by the caller
    (`patch_replacement.limit_sources`; a cascade stage limits them once, on its whole
    level, and runs on a window of it); None keeps every source."""

    kept: torch.Tensor | None = None

    def sources(self, grid: PatchGrid) -> PatchGrid:
        if self.kept is None:
            return grid
        assert self.kept.shape == grid.source.shape
        return PatchGrid(grid.hole, self.kept & grid.source, grid.partial, grid.shape)

    def similarity(
        self, upsampler: GuidedUpsampler, lr_result: torch.Tensor, grid: PatchGrid
    ) -> torch.Tensor:
        """One vector per cell, only on tiles holding a hole or kept source cell: no other
        cell's vector is read."""
        if not _tiles(upsampler, lr_result, scale=2):
            return super().similarity(upsampler, lr_result, grid)
        read = (grid.hole | grid.source).view(1, 1, *grid.shape).float()
        needed = F.interpolate(read, scale_factor=upsampler.config.cell, mode="nearest") > 0
        return run_tiled(
            upsampler.similarity,
            lr_result,
            upsampler.config.similarity_channels,
            needed=needed,
            tile=SIMILARITY_TILE,
            halo=SIMILARITY_HALO,
            output_stride=upsampler.config.cell,
        )

    def reconstruction(
        self,
        upsampler: GuidedUpsampler,
        hr_image: torch.Tensor,
        hr_hole: torch.Tensor,
        grid: PatchGrid,
    ) -> torch.Tensor:
        """HR features only where they are read: kept sources and partly valid patches, one
        patch beyond them for ToRGB's 5×5 reach (hole patches are replaced and other cells
        never borrowed from; their features stay 0)."""
        if not _tiles(upsampler, hr_image):
            return super().reconstruction(upsampler, hr_image, hr_hole, grid)
        read = (grid.source | grid.partial).view(1, 1, *grid.shape).float()
        read = F.max_pool2d(read, 3, stride=1, padding=1)
        needed = F.interpolate(read, scale_factor=upsampler.hr_patch, mode="nearest") > 0
        return run_tiled(
            upsampler.reconstruction,
            (hr_image, hr_hole),
            upsampler.config.reconstruction_channels[0],
            needed=needed,
            tile=RECONSTRUCTION_TILE,
            halo=RECONSTRUCTION_HALO,
        )

    def to_image(
        self,
        upsampler: GuidedUpsampler,
        features: torch.Tensor,
        base: torch.Tensor,
        hr_image: torch.Tensor,
        hr_hole: torch.Tensor,
    ) -> torch.Tensor:
        """ToRGB only on tiles touching the hole; elsewhere the output is the input image
        (callers keep only hole pixels)."""
        if not _tiles(upsampler, features):
            return super().to_image(upsampler, features, base, hr_image, hr_hole)
        return run_tiled(
            upsampler.decode,
            (features, base),
            3,
            needed=hr_hole > 0,
            fill=hr_image.to(features.dtype),
        )


def _tiles(upsampler: GuidedUpsampler, tensor: torch.Tensor, scale: int = 1) -> bool:
    """Tile only outside training, one image at a time, on inputs whose HR size (`scale` ×
    the tensor's) exceeds TILED_ABOVE pixels."""
    pixels = tensor[0, 0].numel() * scale * scale
    return not upsampler.training and tensor.shape[0] == 1 and pixels > TILED_ABOVE
