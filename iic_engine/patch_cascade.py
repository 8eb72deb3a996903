"""The "patches" texture path: Algorithm 1's completion at the working size, then guided
patch synthesis at that size and at every ×2 stage up to the crop's native size.

It replaces the learned guided upsampler (§3.3) when `texture="patches"`; the levels are
the same pyramid, and avoid/use act on the same sources at every level.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from iic_engine.guided_upsampling import Pyramid, pool_mask
from iic_engine.patch_synthesis import (
    DEFAULT_SETTINGS,
    LevelInputs,
    SynthesisSettings,
    synthesise_stage,
    synthesise_working_level,
)


def synthesise_cascade(
    pyramid: Pyramid,
    fill: torch.Tensor,
    in_crop: torch.Tensor,
    completed: torch.Tensor,
    confidence: torch.Tensor,
    settings: SynthesisSettings = DEFAULT_SETTINGS,
    after_stage: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """→ the completed top level (1,3,H,W) and the candidate evaluations made.

    fill (1,1,H,W) bool at the top level: the pixels to synthesise (the generator's hole
    may be larger: avoided and transparent pixels are hidden from it, never filled);
    in_crop (1,1,H,W) bool: False on the padding; completed (1,3,h,w) and confidence
    (1,1,h,w): Algorithm 1's output at level 0.
    """
    stages = len(pyramid.images) - 1
    fills = [pool_mask(fill, 1 << (stages - level), every=False) for level in range(stages + 1)]
    inside = [pool_mask(in_crop, 1 << (stages - level), every=True) for level in range(stages + 1)]
    evaluations = 0
    result = synthesise_working_level(
        _level_inputs(pyramid, 0, fills[0], inside[0], completed, confidence), settings
    )
    evaluations += result.candidate_evaluations
    current, field = result.image, result.field
    for level in range(1, stages + 1):
        upsampled = F.interpolate(current, scale_factor=2.0, mode="bilinear", align_corners=False)
        confidence = F.interpolate(
            confidence, scale_factor=2.0, mode="bilinear", align_corners=False
        )
        inputs = _level_inputs(pyramid, level, fills[level], inside[level], upsampled, confidence)
        if field is None or not bool(inputs.hole.any()):
            current = torch.where(inputs.hole, upsampled, inputs.image)
        else:
            # Only the last stage's border is seen: earlier ones are synthesised again.
            result = synthesise_stage(
                inputs,
                field,
                settings,
                seam=level == stages,
                refine=level <= settings.refined_stages,
            )
            evaluations += result.candidate_evaluations
            current, field = result.image, result.field
        if after_stage is not None:
            after_stage(level)
    return current, evaluations


def _level_inputs(
    pyramid: Pyramid,
    level: int,
    fill: torch.Tensor,
    in_crop: torch.Tensor,
    completed: torch.Tensor,
    confidence: torch.Tensor,
) -> LevelInputs:
    """Every pixel the generator did not see (the hole, hidden or padded pixels) holds its
    fill, so neither the object nor an avoided colour reaches the synthesis; only known
    pixels the user allows, inside the crop, are sources."""
    generator_hole = pyramid.holes[level][0, 0] > 0
    hole = fill[0, 0] & in_crop[0, 0]
    image = torch.where(generator_hole, completed, pyramid.images[level])
    usable = ~generator_hole & in_crop[0, 0]
    allowed = pyramid.allowed[level]
    if allowed is not None:
        usable &= allowed[0, 0]
    return LevelInputs(
        image=image,
        hole=hole,
        usable=usable,
        completed=completed,
        confidence=(confidence[0, 0] * hole).clamp(0, 1),
    )
