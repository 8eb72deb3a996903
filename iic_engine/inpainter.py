"""The engine's one public entry point: `Inpainter.remove`, used by the daemon and the CLI."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from iic_engine.anisotropic_membrane import continue_edges
from iic_engine.confidence_feedback import iterative_inpaint
from iic_engine.device import autocast_for, select_device
from iic_engine.errors import InpaintingError, RemovalCancelled
from iic_engine.generator_scale import GENERATOR_SIDE, iterative_inpaint_at_side
from iic_engine.guided_upsampling import build_pyramid, upsample_cascade
from iic_engine.hole_region import (
    WorkRegion,
    pad_to,
    paste_fill,
    plan_work_region,
    plan_work_regions,
)
from iic_engine.patch_cascade import synthesise_cascade
from iic_engine.pixel_formats import (
    PixelLayout,
    check_finite,
    check_mask,
    describe_layout,
    from_working,
    mask_alpha,
    to_working,
)
from iic_engine.removal import (
    DEFAULT_ITERATIONS,
    DEFAULT_TEXTURE,
    LITTLE_CONTEXT_SHARE,
    TEXTURES,
    CancelCheck,
    ConfidencePiece,
    EngineLimits,
    Progress,
    ProgressCallback,
    RemovalResult,
    RemovalStats,
)
from iic_engine.selection_growth import check_grow, grow_hole
from iic_engine.weights import load_weights

# Candidate valid patches per hole patch search: keeps the guided upsampler's cost bounded
# (with top-k) on 50-megapixel photos while leaving thousands of texture sources. At the
# last stage of a 24 MP photo these are the patches within ~64 px of a 5 % hole; texture
# from farther away arrives through the coarser stages. Halving 8,192 cut that stage by a
# fifth (bench/README.md).
MAX_SOURCE_PATCHES = 4096


class Inpainter:
    """Loads the model once; `remove` may be called many times (not concurrently)."""

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        limits: EngineLimits | None = None,
    ) -> None:
        self.limits = limits or EngineLimits()
        self._device = select_device(device)
        model = load_weights(Path(weights) if weights is not None else None)
        self.model_version = model.metadata.model_version
        self.generator = model.generator.to(self._device)
        self.upsampler = model.upsampler.to(self._device)

    @property
    def device(self) -> str:
        return self._device.type

    def remove(
        self,
        image: np.ndarray,
        hole: np.ndarray,
        *,
        avoid: np.ndarray | None = None,
        use: np.ndarray | None = None,
        iterations: int = DEFAULT_ITERATIONS,
        texture: str = DEFAULT_TEXTURE,
        grow_px: int = 0,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> RemovalResult:
        """Fill `hole` (alpha: any value > 0 is filled, soft edges blend) from the rest.

        image: (H,W) or (H,W,C), C ∈ {1,2,3,4}; uint8/uint16/float16/float32.
        avoid: nothing in the fill comes from it (hidden from the generator, never a patch
        source); use: borrow only from it. Transparent pixels (alpha 0) are treated as
        avoided. texture: "patches" (the photo's own patches, guided by the network) or
        "learned" (the paper's guided upsampler). grow_px: first grow the hole by this many
        pixels (not into avoid), to cover a fringe the selection missed. Pixels outside the
        (grown) hole are returned bit-identical.
        """
        started = time.perf_counter()
        layout = describe_layout(image)
        shape = (image.shape[0], image.shape[1])
        self._check_request(shape, iterations, texture, grow_px)
        hole = check_mask(hole, shape, "hole")
        avoid_region = None if avoid is None else check_mask(avoid, shape, "avoid") > 0
        hole = grow_hole(hole, grow_px, avoid_region)
        use_region = None if use is None else check_mask(use, shape, "use") > 0
        reporter = _StageReporter(on_progress, should_cancel)
        reporter.report("prepare", 0.0, "Preparing the selection")
        fill_region = hole > 0
        if not fill_region.any():
            return self._unchanged(image, started, "The selection is empty: nothing to remove.")
        regions = self._plan(fill_region, avoid_region, use_region)
        result = image.copy()
        pieces: list[ConfidencePiece] = []
        evaluations = 0
        for index, region in enumerate(regions):
            part = reporter.part(index, len(regions))
            # Only the crop is converted: memory follows the hole, not the photo.
            hole_alpha = mask_alpha(region.crop(hole), "hole")
            crop = region.crop(image)
            check_finite(crop)
            rgb, alpha = to_working(crop, layout)
            crop_fill = region.crop(fill_region)
            hidden = _hidden_context(region, crop_fill, avoid_region, alpha)
            allowed = _allowed_sources(region, crop_fill, hidden, use_region)
            filled_rgb, confidence, region_evaluations = self._fill(
                rgb, crop_fill, hidden, allowed, region, iterations, texture, part
            )
            fill = _blend(rgb, alpha, filled_rgb, hole_alpha, crop_fill, layout)
            paste_fill(result, region, fill, crop_fill)
            box = (slice(region.y0, region.y1), slice(region.x0, region.x1))
            pieces.append(ConfidencePiece(box, crop_fill, confidence))
            evaluations += region_evaluations
        reporter.report("done", 1.0, "Done")
        largest = max(regions, key=lambda r: r.working_size[0] * r.working_size[1])
        stats = RemovalStats(
            crop_box=_union_box(regions),
            working_size=(largest.working_size[1], largest.working_size[0]),
            upsampling_stages=max(r.stages for r in regions),
            iterations=iterations,
            hole_pixels=int(fill_region.sum()),
            seconds=time.perf_counter() - started,
            device=self.device,
            candidate_evaluations=evaluations,
            regions=len(regions),
            note=_context_note(float(fill_region.mean())),
        )
        return RemovalResult(result, stats, pieces)

    def _check_request(
        self, shape: tuple[int, int], iterations: int, texture: str, grow_px: int
    ) -> None:
        if texture not in TEXTURES:
            raise InpaintingError(
                "bad_texture",
                f"Unknown texture mode {texture!r}: choose {' or '.join(map(repr, TEXTURES))}.",
            )
        pixels = shape[0] * shape[1]
        if pixels > self.limits.max_image_pixels:
            raise InpaintingError(
                "too_large",
                f"The image has {pixels / 1e6:.0f} megapixels; the limit is "
                f"{self.limits.max_image_pixels / 1e6:.0f}. Crop or downscale it, or raise the "
                "daemon's pixel limit.",
            )
        if not 1 <= iterations <= self.limits.max_iterations:
            raise InpaintingError(
                "bad_iterations",
                f"Iterations must be between 1 and {self.limits.max_iterations} "
                f"({DEFAULT_ITERATIONS} is the default).",
            )
        check_grow(grow_px)

    def _plan(
        self,
        fill_region: np.ndarray,
        avoid_region: np.ndarray | None,
        use_region: np.ndarray | None,
    ) -> list[WorkRegion]:
        if fill_region.all():
            raise InpaintingError(
                "no_context",
                "The selection covers the whole layer: there is nothing left to borrow texture "
                "from. Select only the object.",
            )
        max_side = self.limits.max_working_side
        if use_region is None:
            return plan_work_regions(fill_region, max_side)
        # The 'use' region may lie far from the hole: one crop holds both.
        region = plan_work_region(fill_region | use_region, max_side)
        if not (region.crop(use_region) & ~region.crop(fill_region)).any():
            raise InpaintingError(
                "empty_use",
                "The 'use' region lies entirely inside the selection: mark a region outside the "
                "object to borrow texture from, or clear the 'use' region.",
            )
        return [region]

    def _fill(
        self,
        rgb: np.ndarray,
        fill: np.ndarray,
        hidden: np.ndarray,
        allowed: np.ndarray | None,
        region: WorkRegion,
        iterations: int,
        texture: str,
        reporter: _StageReporter,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """rgb (h,w,3) [0,1]; fill, hidden (h,w) bool: pixels to fill, and known pixels the
        generator must not see → filled rgb (h,w,3), confidence (h,w), candidate matches
        weighed.

        The hole is padded like the image (mirrored), so an object on the crop's edge is not
        mirrored back into the padding as known context.
        """
        device = self._device

        def to_device(array: np.ndarray, mode: str = "symmetric") -> torch.Tensor:
            return torch.from_numpy(pad_to(region, array, mode)).to(device)[None, None]

        image = _working_planes(rgb, region).to(device)
        fill_t = to_device(fill)
        generator_hole = (fill_t | to_device(hidden)).float()
        allowed_t = None if allowed is None else to_device(allowed, "constant")
        in_crop = to_device(np.ones(fill.shape, dtype=bool), "constant")
        patches = texture == "patches"
        total = iterations + region.stages + (1 if patches else 0)
        with torch.inference_mode(), autocast_for(device):
            pyramid = build_pyramid(image, generator_hole, allowed_t, region.stages)
            z1 = pyramid.images[0] * (1 - pyramid.holes[0])

            def after_iteration(t: int) -> None:
                reporter.report("iteration", t / total, f"Iteration {t} of {iterations}")

            if patches:
                # Only the structure is the network's: it runs at its training size, where
                # the edges meeting the hole are carried through its completion (cheap there).
                trace = iterative_inpaint_at_side(
                    self._generate,
                    z1,
                    pyramid.holes[0],
                    iterations,
                    GENERATOR_SIDE,
                    after_iteration,
                    refine=continue_edges,
                )
            else:
                trace = iterative_inpaint(
                    self._generate, z1, pyramid.holes[0], iterations, after_iteration
                )

            def after_stage(level: int) -> None:
                size = pyramid.images[level].shape[-1]
                reporter.report(
                    "upsampling",
                    (total - region.stages + level) / total,
                    f"Upsampling stage {level} of {region.stages} ({size} px wide)",
                )

            if patches:
                reporter.report("refine", iterations / total, "Borrowing texture from the photo")
                completed, evaluations = synthesise_cascade(
                    pyramid,
                    fill_t,
                    in_crop,
                    trace.completed.float(),
                    trace.fill_confidence.float(),
                    after_stage=after_stage,
                )
            else:
                evaluations = 0
                completed = upsample_cascade(
                    self.upsampler,
                    self._generate,
                    trace.completed,
                    pyramid,
                    MAX_SOURCE_PATCHES,
                    after_stage,
                )
            confidence = F.interpolate(
                trace.fill_confidence.float(), size=completed.shape[-2:], mode="bilinear"
            )
        height, width = region.size
        filled = ((completed.float()[0, :, :height, :width] + 1) / 2).clamp(0, 1)
        return (
            filled.permute(1, 2, 0).cpu().numpy(),
            confidence[0, 0, :height, :width].clamp(0, 1).cpu().numpy(),
            evaluations,
        )

    def _generate(self, z: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.generator(z, hole)
        return output.image, output.confidence

    def _unchanged(self, image: np.ndarray, started: float, note: str) -> RemovalResult:
        stats = RemovalStats(
            crop_box=(0, 0, 0, 0),
            working_size=(0, 0),
            upsampling_stages=0,
            iterations=0,
            hole_pixels=0,
            seconds=time.perf_counter() - started,
            device=self.device,
            note=note,
        )
        return RemovalResult(image.copy(), stats)


class _StageReporter:
    """Progress and cancellation; a part of it covers one crop's share of the fraction."""

    def __init__(
        self,
        on_progress: ProgressCallback | None,
        should_cancel: CancelCheck | None,
        start: float = 0.0,
        share: float = 1.0,
    ):
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.start = start
        self.share = share

    def part(self, index: int, count: int) -> _StageReporter:
        share = self.share / count
        return _StageReporter(
            self.on_progress, self.should_cancel, self.start + index * share, share
        )

    def report(self, stage: str, fraction: float, message: str) -> None:
        if self.should_cancel is not None and stage != "done" and self.should_cancel():
            raise RemovalCancelled()
        if self.on_progress is not None:
            overall = min(1.0, self.start + self.share * fraction)
            self.on_progress(Progress(stage=stage, fraction=overall, message=message))


def _context_note(selected_share: float) -> str:
    if selected_share <= LITTLE_CONTEXT_SHARE:
        return ""
    return (
        f"The selection covers {selected_share:.0%} of the layer: little is left to borrow "
        "texture from, so the fill may look smeared. Select only the object for a better result."
    )


def _union_box(regions: list[WorkRegion]) -> tuple[int, int, int, int]:
    """x, y, width, height of the box around every crop worked on."""
    x0, y0 = min(r.x0 for r in regions), min(r.y0 for r in regions)
    x1, y1 = max(r.x1 for r in regions), max(r.y1 for r in regions)
    return x0, y0, x1 - x0, y1 - y0


def _hidden_context(
    region: WorkRegion,
    crop_fill: np.ndarray,
    avoid_region: np.ndarray | None,
    alpha: np.ndarray | None,
) -> np.ndarray:
    """Known pixels of the crop that must not shape the fill: avoided ones, and transparent
    ones (their colour is invisible to the user). They are kept, never filled."""
    hidden = np.zeros(crop_fill.shape, dtype=bool)
    if avoid_region is not None:
        hidden |= region.crop(avoid_region)
    if alpha is not None:
        hidden |= alpha <= 0
    return hidden & ~crop_fill


def _allowed_sources(
    region: WorkRegion,
    crop_fill: np.ndarray,
    hidden: np.ndarray,
    use_region: np.ndarray | None,
) -> np.ndarray | None:
    if not hidden.any() and use_region is None:
        return None
    allowed = ~hidden
    if use_region is not None:
        allowed &= region.crop(use_region)
    if not (allowed & ~crop_fill).any():
        raise InpaintingError(
            "no_context",
            "The 'avoid' region covers everything around the selection: there is nothing left "
            "to borrow texture from. Make the avoid region smaller.",
        )
    return allowed


def _working_planes(rgb: np.ndarray, region: WorkRegion) -> torch.Tensor:
    """(h,w,3) in [0,1] → (1,3,H,W) in [−1,1] at the region's padded size, mirrored at the
    bottom and right as `pad_to` mirrors ("symmetric"), in contiguous planes: a permuted
    view's pixel-major strides would carry through every level (pooling it was 4× slower).
    Written once into place: padding, permuting and scaling one after the other were three
    passes over the crop (0.3 s at 24 MP)."""
    height, width = rgb.shape[:2]
    padded_height, padded_width = region.padded_size
    if padded_height - height > height or padded_width - width > width:
        # A mirror wider than the crop repeats it: numpy's padding knows how.
        planes = torch.from_numpy(pad_to(region, rgb)).permute(2, 0, 1)[None]
        return (planes * 2 - 1).contiguous()
    planes = torch.empty((1, 3, padded_height, padded_width), dtype=torch.float32)
    planes[0, :, :height, :width].copy_(torch.from_numpy(rgb).permute(2, 0, 1))
    below = padded_height - height
    if below:
        planes[..., height:, :width] = planes[..., height - below : height, :width].flip(-2)
    right = padded_width - width
    if right:
        planes[..., width:] = planes[..., width - right : width].flip(-1)
    return planes.mul_(2).sub_(1)


def _blend(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    filled_rgb: np.ndarray,
    hole_alpha: np.ndarray,
    fill_region: np.ndarray,
    layout: PixelLayout,
) -> np.ndarray:
    """(n,C) in the caller's dtype: the crop's hole pixels (row-major), blended by the
    selection's alpha."""
    weight = hole_alpha[fill_region][:, None]
    blended = filled_rgb[fill_region]
    if float(weight.min()) < 1:  # a soft selection: its edge mixes fill and original
        blended = weight * blended + (1 - weight) * rgb[fill_region]
    filled_alpha = None
    if alpha is not None:
        # A filled pixel is as opaque as the known pixels it replaces would suggest: the
        # mean opacity of the crop's known pixels.
        known = alpha[~fill_region]
        opacity = float(known.mean()) if known.size else 1.0
        filled_alpha = weight[:, 0] * opacity + (1 - weight[:, 0]) * alpha[fill_region]
    return from_working(blended, filled_alpha, layout)
