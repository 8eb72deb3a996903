"""Guided patch synthesis: the hole's texture borrowed from the photo's own known pixels,
its structure from the network (a departure from the paper, see docs/architecture.md).

At the generator's working size, an EM texture optimisation (Wexler et al. 2007) runs
coarse to fine over a pyramid: search (a nearest-neighbour field, `nearest_neighbour_field`)
then vote, initialised from the network's completed image. Each hole pixel takes its own
match's centre: a real source pixel, so grain survives where averaged votes of slightly
different sources blur it.
The network's low frequencies replace the synthesis's own: the structure is the
network's and the texture the photo's. The network's confidence weighs the guide term of
the search, so where it is sure the copies follow its fill and where not they are free.

Through the guided-upsampling cascade each ×2 stage carries the field up (the first one
also refines it on that level's hole pixels; above it the carried matches are already
aligned, `SynthesisSettings.refined_stages`) within a window around the hole and its
sources, and votes real high-resolution source pixels: native-resolution texture at a cost
that follows the hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from iic_engine.gradient_domain_vote import MAX_ITERATIONS as INTEGRATION_ITERATIONS
from iic_engine.gradient_domain_vote import integrate_matches
from iic_engine.nearest_neighbour_field import (
    DESCRIPTOR_SIZE,
    PATCH_SIZE,
    PatchField,
    SearchSpace,
    SearchWeights,
    describe,
    patch_basis,
    random_field,
    rescore,
    search,
    source_centres,
    upsample_field,
)
from iic_engine.ring_box import hole_bounds, ring_box
from iic_engine.seam_blending import blend_seam


@dataclass(frozen=True)
class SynthesisSettings:
    """guide_weight: λ of the guide term (×confidence); occurrence_weight: cost of one more
    use of a source, in median match costs; structure_sigma: the Gaussian (pixels of the
    working size) below which frequencies come from the network (`transfer_structure`);
    coherence_weight: the bonus per neighbour continuing the same
    copy, in median match costs.

    Measured on the first 10 dev-eval photos (PSNR / gradient ratio / patch SWD; PatchMatch
    22.29 / 0.91 / 1.48): averaged votes, guide 1, no coherence 23.41 / 0.53 / 2.54;
    one-pixel votes, guide 3: 23.43 / 0.60 / 2.25; coherence 0.25: 23.29 / 0.74 / 1.65;
    0.5: 23.14 / 0.81 / 1.39; 1.0: 22.88 / 0.86 / 1.10; 0.5 with guide 10: 23.17 / 0.83 /
    1.36.

    gradient_domain: vote the matches' steps, not their colours (`gradient_domain_vote`),
    with `integration_screening` (the pull towards the colour copy) and at the stages
    `stage_integration_steps` iterations. On every 4th dev-eval photo (25; Telea 21.72 /
    0.21 / 4.84, PatchMatch 21.10 / 0.80 / 2.05), colour votes with coherence 0.5: 21.74 /
    0.74 / 2.37; steps with coherence 0.5: 21.87 / 0.70 / 2.50 (fewer blotches of a wrong
    colour, no mosaic of steps, but every seam between copies had carried gradient too);
    1.0: 21.72 / 0.76 / 2.21; 1.25: 21.65 / 0.77 / 2.13; 1.5 (the default): 21.62 / 0.78 /
    2.06 (with 20 stage iterations instead of 40: 21.59 / 0.78 / 2.06, 2.5 s less on 24 MP;
    10 left the ramp's seam). Screening 1/64, 1/256, 1/1024 and none differ by < 0.05 dB, but with none the
    colours of a mixed border (legs and a skirt, a raft and its crew) bled across the hole
    as smears; 1/256 lets a level travel about 16 px.

    With the network's low frequencies swapped in everywhere (`transfer_structure`), same
    25 photos: guide 10: 22.06 / 0.77 / 2.12; 30 (then the default): 22.06 / 0.78 / 2.05; 100:
    22.06 / 0.80 / 2.06. Around it every knob moves along one line, about 0.1 dB of PSNR
    for 0.1 of SWD: guide σ 3: 22.00 / 1.98, 4: 21.97 / 1.95; structure σ 3: 22.13 / 2.12,
    5: 22.01 / 2.01; coherence 1.0: 22.14 / 2.22, 2.0: 22.03 / 2.03; 4 EM steps: 22.06 /
    2.07.

    guide_confidence_floor: the confidence below which the guide keeps its weight. Weighed
    by confidence alone the guide vanished where the network is least sure, and there EM
    drifted to whatever neighbours copied (the demo's water ripples climbed into the hazy
    sky; the chapel's spires were scattered over its sky). Same 25 photos, λ 100: floor
    0.25 (the default) 22.06 / 0.84 / 1.86, 0.5 22.05 / 0.84 / 1.83, a constant guide
    22.05 / 0.84 / 1.85, floor 0 22.06 / 0.80 / 2.05 (λ 30, before: 22.07 / 0.78 / 2.05);
    with structure σ 2.5, floor 0: 22.17 / 2.20 against 22.15 / 1.98 with a floor of 0.5.
    0.25 rather than 0.5: the same measures, and a lighter pull where the network is unsure
    left fewer scattered fragments in large holes through structure. A smaller structure σ
    then buys PSNR on a better line (σ 3: 22.11 / 1.93; 2.5: 22.15 / 2.00; 2.25: 22.17 /
    2.06; on all 100 photos σ 2.25 gave 22.35 dB, Telea + 0.51, at SWD 1.77, PatchMatch's)
    but takes every texture coarser than about 10 px from the network: where it is blind
    (the stripes test, period 11 px) the gradient ratio fell to 0.69 and the SWD
    rose fivefold (σ 4: 0.95). σ stays 4."""

    guide_weight: float = 100.0
    guide_confidence_floor: float = 0.25
    occurrence_weight: float = 0.05
    coherence_weight: float = 1.5
    # Of sources alike in appearance the nearer wins: a source as far away as the hole is
    # long costs this many median match costs. Without it the search took whatever looked
    # alike anywhere in the photo (ivy became icicles from a roof, a city's facade grey
    # blotches from the sky). All 100 dev-eval photos, PSNR / gradient ratio / patch SWD:
    # none 22.24 / 0.85 / 1.66, 16: 22.22 / 0.86 / 1.43 (every hole-size bin then within
    # 1.1× PatchMatch's SWD). Every 4th photo: 4: 22.05 / 1.78, 8: 22.00 / 1.70, 16: 21.99 /
    # 1.62, 64: 21.98 / 1.57; the squared distance bought less SWD for the same PSNR
    # (×16: 22.00 / 1.67), a free zone of a quarter of the hole's length more (21.99 / 1.65).
    distance_weight: float = 16.0
    structure_sigma: float = 4.0
    guide_sigma: float = 2.0
    coarsest_side: int = 32
    max_levels: int = 5
    em_steps: int = 3
    search_rounds: int = 3
    coarsest_rounds: int = 8
    fine_search_radius: int = 16
    # One round repairs the carried field's invalid matches and aligns it; a second changed
    # nothing measurable (25 photos: 22.07 / 0.78 / 2.05 both) and cost 1.5–2.5 s at 24 MP.
    stage_search_rounds: int = 1
    stage_search_radius: int = 4
    # The stages only align the carried matches locally: half the components cost half the
    # convolution and the gathers at native size (24 MP: most of the synthesis's time).
    stage_descriptor_size: int = 8
    # Stages above these copy the field carried up as it is: its matches fall on valid
    # centres by construction (a coarse centre's patch covers the fine one's). The first
    # stage aligns the working size's field: all 100 dev-eval photos (a stage at most)
    # without it 22.04 / 0.91 / 1.35, with it 22.16 / 0.86 / 1.44. Above it the search
    # bought nothing; every other photo worked at 64 px (three stages for large holes):
    # refining every stage 20.70 / 0.93 / 1.63, the first two 20.73 / 0.95 / 1.62, the first
    # 20.72 / 0.96 / 1.59. At 24 MP the last stage's descriptors and search took 1.1 s.
    refined_stages: int = 1
    gradient_domain: bool = True
    integration_screening: float = 1 / 256
    stage_integration_steps: int = 20
    seed: int = 0


DEFAULT_SETTINGS = SynthesisSettings()


@dataclass
class LevelInputs:
    """One pyramid level. image (1,C,H,W): known pixels valid where ~hole; hole (H,W)
    bool; usable (H,W) bool: known pixels patches may come from; completed (1,C,H,W): the
    network's fill (or the stage below, upsampled); confidence (H,W) in [0,1]."""

    image: torch.Tensor
    hole: torch.Tensor
    usable: torch.Tensor
    completed: torch.Tensor
    confidence: torch.Tensor


@dataclass
class SynthesisResult:
    """image (1,C,H,W) with the hole synthesised; field: the hole pixels' matches, for the
    next stage and for tests that track where pixels came from."""

    image: torch.Tensor
    field: PatchField | None
    candidate_evaluations: int


def synthesise_working_level(
    inputs: LevelInputs, settings: SynthesisSettings = DEFAULT_SETTINGS
) -> SynthesisResult:
    """EM over a pyramid of the working-size crop, initialised from the network's fill."""
    generator = torch.Generator().manual_seed(settings.seed)
    levels = _pyramid(inputs, settings)
    counter = [0]
    field: PatchField | None = None
    estimate = levels[-1].completed
    for depth, level in enumerate(reversed(levels)):
        space = _space(level, settings, DESCRIPTOR_SIZE)
        if space is None:
            return SynthesisResult(_structure_only(inputs), None, counter[0])
        targets = level.hole.flatten().nonzero().squeeze(1)
        weights = _weights(level, settings)
        if field is None:
            space.descriptors = describe(estimate, space.basis)
            field = random_field(space, targets, generator)
            field = search(
                field,
                space,
                weights,
                settings.coarsest_rounds,
                max(level.hole.shape),
                generator,
                counter,
            )
        else:
            field = upsample_field(field, space, targets, generator)
            estimate = _vote(field, level, space)
        radius = max(level.hole.shape) if depth == 0 else settings.fine_search_radius
        for _ in range(settings.em_steps):
            field = rescore(field, space, weights)
            field = search(
                field, space, weights, settings.search_rounds, radius, generator, counter
            )
            estimate = _vote(field, level, space)
    assert field is not None
    structured = _structured(
        estimate, field, inputs, settings.structure_sigma, settings, INTEGRATION_ITERATIONS
    )
    return SynthesisResult(blend_seam(structured, inputs.hole, inputs.image), field, counter[0])


def synthesise_stage(
    inputs: LevelInputs,
    below: PatchField,
    settings: SynthesisSettings = DEFAULT_SETTINGS,
    seam: bool = True,
    refine: bool = True,
) -> SynthesisResult:
    """One ×2 stage: the field of the level below carried up and refined on this level's
    hole pixels within a window around them and their sources.

    seam: blend the border (only the last stage's is seen); refine: search the carried
    field again (only the first stages do, see `SynthesisSettings.refined_stages`)."""
    generator = torch.Generator().manual_seed(settings.seed + 1)
    rows, cols = _stage_window(inputs.hole, below, settings)
    window = _crop_level(inputs, rows, cols)
    counter = [0]
    # The carried field already follows the structure; the stage only aligns it, and the
    # low frequencies come from the level below through `transfer_structure`.
    components = settings.stage_descriptor_size if refine else 0
    space = _space(window, settings, components, guided=False)
    if space is None:
        return SynthesisResult(_structure_only(inputs), None, 0)
    targets_window = window.hole.flatten().nonzero().squeeze(1)
    carried = _field_in_window(below, rows, cols)
    field = upsample_field(carried, space, targets_window, generator)
    if refine:
        weights = _weights(window, settings, near_sources=False)
        _vote(field, window, space)
        field = rescore(field, space, weights)
        field = search(
            field,
            space,
            weights,
            settings.stage_search_rounds,
            settings.stage_search_radius,
            generator,
            counter,
            local=True,
        )
    estimate = _composite(window, _copy_matches(field, window.image))
    structured = _structured(
        estimate,
        field,
        window,
        2 * settings.structure_sigma,
        settings,
        settings.stage_integration_steps,
    )
    if seam:
        structured = blend_seam(structured, window.hole, window.image)
    result = inputs.completed.clone()
    result[..., rows, cols] = structured
    result = torch.where(inputs.hole, result, inputs.image)
    height, width = inputs.hole.shape
    return SynthesisResult(result, _field_to_level(field, rows, cols, (height, width)), counter[0])


def _structured(
    estimate: torch.Tensor,
    field: PatchField,
    level: LevelInputs,
    sigma: float,
    settings: SynthesisSettings,
    integration_steps: int,
) -> torch.Tensor:
    """The copy with the network's low frequencies (below `sigma`), integrated in the
    gradient domain when the settings ask for it.

    The structured copy is where the integration starts and what its screening pulls
    towards: a raw copy from elsewhere on a gradient is off by the slope times the distance,
    at every scale. At a stage it matters most: 20 iterations do not carry a raw copy's
    offset away (a 1600 px ramp's border kinked 5.4× its own step).

    The blurs run on the hole's box widened by what they read (`blur_reach`): a stage's
    window also holds the sources, about three times the hole's box at 24 MP."""
    rows, cols = ring_box(level.hole, blur_reach(sigma), align=_pooling_factor(sigma))
    box = _crop_level(level, rows, cols)
    structure = network_structure(box, sigma)
    if settings.gradient_domain:
        estimate = estimate.clone()
        estimate[..., rows, cols] = transfer_structure(
            estimate[..., rows, cols], box, structure, sigma
        )
        estimate = integrate_matches(
            field,
            level.image,
            level.hole,
            estimate,
            settings.integration_screening,
            integration_steps,
        )
    result = level.image.clone()
    result[..., rows, cols] = transfer_structure(estimate[..., rows, cols], box, structure, sigma)
    return result


def _crop_level(level: LevelInputs, rows: slice, cols: slice) -> LevelInputs:
    tensors = (level.image, level.hole, level.usable, level.completed, level.confidence)
    return LevelInputs(*(t[..., rows, cols] for t in tensors))


def network_structure(inputs: LevelInputs, sigma: float) -> torch.Tensor:
    """G_σ∗n: the network's fill (at a stage, the level below's) composited with the known
    pixels and low-passed, what `transfer_structure` swaps in."""
    return gaussian_blur(_composite(inputs, inputs.completed), sigma)


def transfer_structure(
    synthesised: torch.Tensor, inputs: LevelInputs, structure: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Frequencies below `sigma` from the network's fill: hole pixels become
    s + G_σ∗n − G_σ∗s, with `structure` = G_σ∗n (`network_structure`). Known pixels are
    kept.

    Weighing the swap by the network's confidence, and skipping it where the two differ
    much, kept the synthesis's own low frequencies where the network is least sure: in the
    middle of large holes, where a misplaced copy (a blob of sky inside a chapel) costs far
    more than the network's blur. On every 4th dev-eval photo the swap everywhere gave
    +0.47 dB at the same texture measures (22.06 / 0.77 / 2.12 against 21.59 / 0.78 /
    2.06)."""
    result = synthesised + structure - gaussian_blur(synthesised, sigma)
    return torch.where(inputs.hole, result, inputs.image)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian of (1,C,H,W), reflected at the border. A wide one runs on an
    average-pooled copy and is upsampled back: what it keeps is below the pooling's
    frequencies anyway, and at native size the full-resolution taps were a fifth of a
    24-megapixel removal."""
    factor = _pooling_factor(sigma)
    while factor > 1 and min(image.shape[-2:]) < 4 * factor:
        factor //= 2
    if factor > 1:
        pooled = F.avg_pool2d(image, factor, ceil_mode=True)
        blurred = separable_gaussian(pooled, sigma / factor)
        upsampled = F.interpolate(blurred, scale_factor=float(factor), mode="bilinear")
        return upsampled[..., : image.shape[-2], : image.shape[-1]]
    return separable_gaussian(image, sigma)


def blur_reach(sigma: float) -> int:
    """How far (pixels) `gaussian_blur` reads around a pixel: its taps and, on a pooled
    copy, a pooling cell on either side for the bilinear upsampling."""
    return int(3 * sigma) + 2 * _pooling_factor(sigma) + 1


def _pooling_factor(sigma: float) -> int:
    factor = 1
    while sigma / (2 * factor) >= BLUR_POOLED_SIGMA:
        factor *= 2
    return factor


# A Gaussian this wide (pixels) or wider is computed on a pooled copy.
BLUR_POOLED_SIGMA = 2.0


def separable_gaussian(image: torch.Tensor, sigma: float, truncate: float = 3.0) -> torch.Tensor:
    """Gaussian of (B,C,H,W) per channel at full resolution, `truncate`·σ taps each side,
    reflected at the border (replicated where the image is narrower than the taps)."""
    radius = max(1, int(truncate * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    mode = "reflect" if min(image.shape[-2:]) > radius else "replicate"
    blurred = F.pad(image, (radius, radius, 0, 0), mode=mode)
    blurred = F.conv2d(
        blurred, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels
    )
    blurred = F.pad(blurred, (0, 0, radius, radius), mode=mode)
    return F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _space(
    level: LevelInputs, settings: SynthesisSettings, components: int, guided: bool = True
) -> SearchSpace | None:
    """The level's sources, descriptor basis and guide. Its descriptors are those of an
    estimate that needs the space first (the field carried up is repaired against its
    sources), so they are left empty here for `_vote` (or the caller) to set. With no
    components the space is the source set alone, for a field that is carried, not
    searched."""
    centres = source_centres(level.usable)
    if not bool(centres.any()):
        # Context thinner than a patch: a centre may still be borrowed on its own.
        centres = source_centres(level.usable, radius=0)
        if not bool(centres.any()):
            return None
    if components > 0:
        basis = patch_basis(level.image, centres, settings.seed, components)
    else:
        basis = level.image.new_empty((0, level.image.shape[1], PATCH_SIZE, PATCH_SIZE))
    height, width = level.hole.shape
    # Targets compare the network's fill, sources their own (known) neighbourhood, both
    # low-passed alike; no pixel under the hole is read.
    guide = None
    if guided:
        blurred = gaussian_blur(_composite(level, level.completed), settings.guide_sigma)
        guide = blurred[0].flatten(1).T.contiguous()
    return SearchSpace(
        height=height,
        width=width,
        basis=basis,
        descriptors=level.image.new_empty((0, basis.shape[0])),
        guide=guide,
        source_ok=centres.flatten(),
        sources=centres.flatten().nonzero().squeeze(1),
    )


def _weights(
    level: LevelInputs, settings: SynthesisSettings, near_sources: bool = True
) -> SearchWeights:
    """The guide compares the network's fill (low-passed) with the sources' neighbourhood,
    weighed by the network's confidence but never below `guide_confidence_floor`.

    near_sources: charge for the distance to a source, relative to the hole's length at
    this level (a stage's search is local already and needs no such charge)."""
    confidence = level.confidence.flatten()[level.hole.flatten()]
    distance = 0.0
    if near_sources and settings.distance_weight > 0:
        distance = settings.distance_weight / _hole_extent(level.hole)
    return SearchWeights(
        guide=settings.guide_weight * confidence.clamp(min=settings.guide_confidence_floor),
        occurrence=settings.occurrence_weight,
        coherence=settings.coherence_weight,
        distance=distance,
    )


def _hole_extent(hole: torch.Tensor) -> int:
    """The longer side of the hole's bounding box, in pixels (1 for no hole)."""
    if not bool(hole.any()):
        return 1
    rows, cols = hole_bounds(hole)
    return max(rows.stop - rows.start, cols.stop - cols.start)


def _pyramid(inputs: LevelInputs, settings: SynthesisSettings) -> list[LevelInputs]:
    """Finest first; a coarse pixel is a hole if any pixel under it is, usable only if
    every pixel under it is."""
    levels = [inputs]
    while len(levels) < settings.max_levels and min(levels[-1].hole.shape) >= 2 * max(
        settings.coarsest_side, PATCH_SIZE
    ):
        finer = levels[-1]
        hole = F.max_pool2d(finer.hole.float()[None, None], 2, ceil_mode=True)[0, 0] > 0
        usable = -F.max_pool2d(-finer.usable.float()[None, None], 2, ceil_mode=True)[0, 0] > 0
        levels.append(
            LevelInputs(
                image=F.avg_pool2d(finer.image, 2, ceil_mode=True),
                hole=hole,
                usable=usable & ~hole,
                completed=F.avg_pool2d(finer.completed, 2, ceil_mode=True),
                confidence=F.avg_pool2d(finer.confidence[None, None], 2, ceil_mode=True)[0, 0],
            )
        )
    return levels


def _composite(level: LevelInputs, fill: torch.Tensor) -> torch.Tensor:
    return torch.where(level.hole, fill, level.image)


def _structure_only(inputs: LevelInputs) -> torch.Tensor:
    """No source patch fits: the network's (or the stage below's) fill stands."""
    return _composite(inputs, inputs.completed)


def _vote(field: PatchField, level: LevelInputs, space: SearchSpace) -> torch.Tensor:
    """The E step's result: the level with its hole copied from the matches; the space's
    descriptors become this estimate's, for the next search."""
    estimate = _composite(level, _copy_matches(field, level.image))
    space.descriptors = describe(estimate, space.basis)
    return estimate


def _copy_matches(field: PatchField, image: torch.Tensor) -> torch.Tensor:
    """(1,C,H,W) whose hole pixels are their matches' centre pixels: the vote of Wexler et
    al.'s EM with one voter per pixel. Averaging the overlapping patches' votes, as they
    do, blurred the grain wherever neighbouring matches disagreed by a pixel."""
    values = image[0].flatten(1).clone()
    values[:, field.targets] = values[:, field.source]
    return values.view_as(image)


def _stage_window(
    hole: torch.Tensor, below: PatchField, settings: SynthesisSettings
) -> tuple[slice, slice]:
    """Rows and columns of a stage's level that its search reads: the hole and the carried
    sources, widened by the search radius, a patch and the structure blur."""
    height, width = hole.shape
    rows, cols = hole_bounds(hole)
    sy, sx = (below.source // below.width) * 2, (below.source % below.width) * 2
    top = min(rows.start, int(sy.min()))
    bottom = max(rows.stop, int(sy.max()) + 2)
    left = min(cols.start, int(sx.min()))
    right = max(cols.stop, int(sx.max()) + 2)
    margin = settings.stage_search_radius + PATCH_SIZE + int(6 * settings.structure_sigma)
    # Even starts keep the window's ×2 grid on the level below's.
    return (
        slice(max(0, top - margin) // 2 * 2, min(height, bottom + margin)),
        slice(max(0, left - margin) // 2 * 2, min(width, right + margin)),
    )


def _field_in_window(below: PatchField, rows: slice, cols: slice) -> PatchField:
    """The lower level's field in the coordinates of the window's half-size grid."""
    assert rows.start is not None and cols.start is not None
    top, left = rows.start // 2, cols.start // 2
    assert rows.start % 2 == 0 and cols.start % 2 == 0
    height, width = -(-(rows.stop - rows.start) // 2), -(-(cols.stop - cols.start) // 2)
    ty, tx = below.targets // below.width - top, below.targets % below.width - left
    sy, sx = below.source // below.width - top, below.source % below.width - left
    keep = (ty >= 0) & (ty < height) & (tx >= 0) & (tx < width)
    keep &= (sy >= 0) & (sy < height) & (sx >= 0) & (sx < width)
    return PatchField(
        height, width, (ty * width + tx)[keep], (sy * width + sx)[keep], below.cost[keep]
    )


def _field_to_level(
    field: PatchField, rows: slice, cols: slice, shape: tuple[int, int]
) -> PatchField:
    assert rows.start is not None and cols.start is not None
    height, width = shape
    ty = field.targets // field.width + rows.start
    tx = field.targets % field.width + cols.start
    sy = field.source // field.width + rows.start
    sx = field.source % field.width + cols.start
    return PatchField(height, width, ty * width + tx, sy * width + sx, field.cost)
