"""A nearest-neighbour field (NNF) over a level's hole pixels, searched PatchMatch-style
(Barnes et al. 2009) but vectorised: every hole pixel takes its candidates at once.

Each hole pixel q maps to the centre s of a source patch that lies wholly in known pixels
the user allows. Patches are compared by their projection on the principal components of
the source patches (one convolution gives every pixel's descriptor), so a candidate costs
a gather of a few numbers instead of a 7×7×3 patch. To the patch distance two terms are
added:

- a guide term: λ(q)·p²·‖g(q) − g(s)‖², the network's fill low-passed against the equally
  low-passed source, λ(q) following the network's confidence (the caller's weights; the
  synthesis keeps a quarter of the weight where the network is unsure, see `SynthesisSettings`);
- an occurrence term: each source's use count raises its cost, so one smooth source
  cannot be copied everywhere (the failure of single-best-patch copying);
- a distance term: the pixels between q and s raise the cost, so of sources alike in
  appearance the nearby one wins (the lake beside the hole, not the one across the photo).

Propagation is Jacobi-style (all pixels read their neighbours' previous matches), so jumps
of 1, 2, 4, … pixels carry a good match across a hole in a few rounds, where the
sequential scan of PatchMatch does it in one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from iic_engine.binary_morphology import erode

PATCH_SIZE = 7  # pixels on a side, as PatchMatch's usual radius 3
DESCRIPTOR_SIZE = 16  # principal components kept of the 7·7·3 = 147 patch values
DESCRIPTOR_SAMPLES = 4096  # source patches the principal components are estimated from
GLOBAL_CANDIDATES = 2  # uniformly drawn sources per round: escapes from local minima
_NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0))


@dataclass
class SearchSpace:
    """What a level's search reads. Flat indices are row-major over (height, width).

    basis (K,C,P,P): the principal directions descriptors are projected on (`patch_basis`);
    descriptors (H·W, K): every pixel's patch descriptor, of the current estimate;
    guide (H·W, 3) or None: the low-passed image each source is compared with by the guide
    term (None: no guide term, as for a carried field that is only aligned);
    source_ok (H·W,) bool: pixels that may be a source patch's centre;
    sources (S,): their flat indices.
    """

    height: int
    width: int
    basis: torch.Tensor
    descriptors: torch.Tensor
    guide: torch.Tensor | None
    source_ok: torch.Tensor
    sources: torch.Tensor


@dataclass
class PatchField:
    """targets (N,) flat indices of the hole pixels; source (N,) their patches' centres;
    cost (N,) the patch distance plus guide term of each match (occurrence excluded)."""

    height: int
    width: int
    targets: torch.Tensor
    source: torch.Tensor
    cost: torch.Tensor

    def use_counts(self) -> torch.Tensor:
        """(H·W,) how many hole pixels each source pixel supplies."""
        return _use_counts(self.source, self.height * self.width, torch.float32)


def _use_counts(source: torch.Tensor, pixels: int, dtype: torch.dtype) -> torch.Tensor:
    counts = torch.zeros(pixels, device=source.device, dtype=dtype)
    return counts.index_add_(0, source, torch.ones_like(source, dtype=dtype))


@dataclass(frozen=True)
class SearchWeights:
    """guide (N,): λ·confidence of each target; occurrence: the cost of one more use of a
    source, coherence: the bonus for each neighbour that continues the same copy, both in
    median match costs; distance: the cost of each pixel between a target and its source,
    in median match costs."""

    guide: torch.Tensor
    occurrence: float
    coherence: float = 0.0
    distance: float = 0.0


def patch_basis(
    image: torch.Tensor,
    source_ok: torch.Tensor,
    seed: int = 0,
    components: int = DESCRIPTOR_SIZE,
) -> torch.Tensor:
    """Principal directions of the source patches: (K,C,P,P) convolution weights.

    image (1,C,H,W); source_ok (H,W) bool. The mean is not removed, so the first component
    carries a patch's mean colour and descriptor distances approximate plain SSD.
    """
    channels = image.shape[1]
    radius = PATCH_SIZE // 2
    ok = source_ok.flatten().nonzero().squeeze(1)
    generator = torch.Generator().manual_seed(seed)
    if ok.numel() > DESCRIPTOR_SAMPLES:
        pick = torch.randperm(ok.numel(), generator=generator)[:DESCRIPTOR_SAMPLES]
        ok = ok[pick.to(ok.device)]
    padded = F.pad(image, (radius,) * 4, mode="replicate")[0]
    patches = _patches_at(padded, ok, image.shape[-1])  # (n, C·P·P)
    second_moment = patches.T @ patches / max(1, patches.shape[0])
    _, vectors = torch.linalg.eigh(second_moment.double())
    keep = min(components, vectors.shape[1])
    basis = vectors[:, -keep:].flip(1).T.to(image.dtype)
    return basis.reshape(keep, channels, PATCH_SIZE, PATCH_SIZE)


def _patches_at(padded: torch.Tensor, centres: torch.Tensor, width: int) -> torch.Tensor:
    """(n, C·P·P) patches of padded (C, H+2r, W+2r) centred at flat indices of the unpadded
    image, gathered one offset at a time: unfolding a whole 24-megapixel level would take
    147 values per pixel (2 GB) to keep 4,096 patches."""
    rows, cols = centres // width, centres % width
    offsets = [
        padded[:, rows + dy, cols + dx] for dy in range(PATCH_SIZE) for dx in range(PATCH_SIZE)
    ]
    return torch.stack(offsets, dim=1).reshape(padded.shape[0] * PATCH_SIZE**2, -1).T


def describe(image: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """image (1,C,H,W) → (H·W, K) patch descriptors (replicate padding at the border)."""
    radius = PATCH_SIZE // 2
    # Channels-last in and out: the output is already pixel-major, so the (H·W, K) view
    # needs no transposed copy, and the convolution itself ran twice as fast.
    padded = F.pad(image, (radius,) * 4, mode="replicate")
    descriptors = F.conv2d(
        padded.contiguous(memory_format=torch.channels_last),
        basis.contiguous(memory_format=torch.channels_last),
    )
    return descriptors.permute(0, 2, 3, 1).reshape(-1, basis.shape[0])


def source_centres(usable: torch.Tensor, radius: int = PATCH_SIZE // 2) -> torch.Tensor:
    """usable (H,W) bool: known pixels that may be borrowed → (H,W) bool: centres whose
    whole patch is usable and inside the level."""
    return erode(usable, radius, outside=False)


def random_field(
    space: SearchSpace, targets: torch.Tensor, generator: torch.Generator
) -> PatchField:
    pick = torch.randint(space.sources.numel(), (targets.numel(),), generator=generator)
    source = space.sources[pick.to(space.sources.device)]
    return PatchField(
        space.height,
        space.width,
        targets,
        source,
        torch.full_like(targets, float("inf"), dtype=space.descriptors.dtype),
    )


def search(
    field: PatchField,
    space: SearchSpace,
    weights: SearchWeights,
    rounds: int,
    max_radius: int,
    generator: torch.Generator,
    counter: list[int] | None = None,
    local: bool = False,
) -> PatchField:
    """`rounds` of propagation and random search; returns the improved field.

    max_radius: the widest random-search window (pixels); it halves down to 1.
    local: only the nearest neighbours propagate and nothing is drawn from afar — for a
    field carried up from the level below, which needs aligning, not finding (at native
    size this halves the candidates).
    counter: if given, counter[0] grows by the candidate evaluations made (for tests and
    benchmarks that assert cost follows the hole).
    """
    width = space.width
    ty, tx = field.targets // width, field.targets % width
    query = space.descriptors[field.targets]
    query_guide = _target_guide(space, field)
    match_map = torch.full((space.height * width,), -1, dtype=torch.long, device=ty.device)
    source = field.source
    cost = _cost(space, query, query_guide, weights.guide, source)
    for round_index in range(rounds):
        match_map[field.targets] = source
        scale = _median_cost(cost)
        unit, bonus = weights.occurrence * scale, weights.coherence * scale
        far_unit = weights.distance * scale
        counts = _use_counts(source, space.height * width, cost.dtype)
        penalty = counts * unit
        # The current match's own use is not held against it: switching away frees it.
        total = cost + (counts[source] - 1) * unit
        if far_unit > 0:
            total = total + far_unit * _distance(source, ty, tx, width)
        near = _neighbour_matches(space, ty, tx, match_map, 1)
        continued = _continued_copies(space, near) if bonus > 0 else None
        if continued is not None:
            total = total - bonus * _agreeing_neighbours(continued, source, cost.dtype)
        candidates = _propagation_candidates(space, near, 1)
        if not local:
            jump = 2 << (round_index % 5)
            far = _neighbour_matches(space, ty, tx, match_map, jump)
            candidates += _propagation_candidates(space, far, jump)
        candidates += _random_candidates(space, source, max_radius, generator, local)
        for candidate, valid in candidates:
            candidate_cost = _cost(space, query, query_guide, weights.guide, candidate)
            candidate_total = candidate_cost + penalty[candidate]
            if far_unit > 0:
                candidate_total = candidate_total + far_unit * _distance(candidate, ty, tx, width)
            if continued is not None:
                agreeing = _agreeing_neighbours(continued, candidate, cost.dtype)
                candidate_total = candidate_total - bonus * agreeing
            better = valid & (candidate_total < total)
            source = torch.where(better, candidate, source)
            cost = torch.where(better, candidate_cost, cost)
            total = torch.where(better, candidate_total, total)
        if counter is not None:
            counter[0] += len(candidates) * int(source.numel())
    return PatchField(field.height, field.width, field.targets, source, cost)


def _distance(source: torch.Tensor, ty: torch.Tensor, tx: torch.Tensor, width: int) -> torch.Tensor:
    """Euclidean pixels from each target to its source."""
    dy, dx = source // width - ty, source % width - tx
    return (dy * dy + dx * dx).float().sqrt_()


def rescore(field: PatchField, space: SearchSpace, weights: SearchWeights) -> PatchField:
    """The field's costs against a new estimate (descriptors change after each vote)."""
    query = space.descriptors[field.targets]
    cost = _cost(space, query, _target_guide(space, field), weights.guide, field.source)
    return PatchField(field.height, field.width, field.targets, field.source, cost)


def upsample_field(
    field: PatchField, fine: SearchSpace, targets: torch.Tensor, generator: torch.Generator
) -> PatchField:
    """Carry a field to the level twice as large: q → 2·s(q//2) + q mod 2, with its parent's
    cost (the gradient-domain vote prefers the better of two matches where none is
    searched again); a match that falls on an invalid centre is replaced by a random source
    (the search repairs it)."""
    coarse_map = torch.full(
        (field.height * field.width,), -1, dtype=torch.long, device=targets.device
    )
    coarse_map[field.targets] = field.source
    ty, tx = targets // fine.width, targets % fine.width
    parent = (ty // 2).clamp_max(field.height - 1) * field.width + (tx // 2).clamp_max(
        field.width - 1
    )
    coarse = coarse_map[parent]
    sy = (coarse // field.width) * 2 + ty % 2
    sx = (coarse % field.width) * 2 + tx % 2
    inside = (coarse >= 0) & (sy < fine.height) & (sx < fine.width)
    flat = torch.where(inside, sy * fine.width + sx, torch.zeros_like(sy))
    valid = inside & fine.source_ok[flat]
    fallback = random_field(fine, targets, generator).source
    source = torch.where(valid, flat, fallback)
    coarse_cost = torch.full_like(coarse_map, float("inf"), dtype=field.cost.dtype)
    coarse_cost[field.targets] = field.cost
    cost = torch.where(valid, coarse_cost[parent], float("inf"))
    return PatchField(fine.height, fine.width, targets, source, cost)


def _target_guide(space: SearchSpace, field: PatchField) -> torch.Tensor | None:
    return None if space.guide is None else space.guide[field.targets]


def _cost(
    space: SearchSpace,
    query: torch.Tensor,
    query_guide: torch.Tensor | None,
    guide_weight: torch.Tensor,
    candidate: torch.Tensor,
) -> torch.Tensor:
    # In place on the gathered rows: the temporaries of the plain expression cost about
    # three times the arithmetic (a 24-megapixel stage scores a million targets at a time).
    patch = space.descriptors.index_select(0, candidate).sub_(query).square_().sum(1)
    if space.guide is None or query_guide is None:
        return patch
    guide = space.guide.index_select(0, candidate).sub_(query_guide).square_().sum(1)
    return patch.add_(guide.mul_(guide_weight * (PATCH_SIZE * PATCH_SIZE)))


def _median_cost(cost: torch.Tensor) -> float:
    """The unit of the occurrence penalty and the coherence bonus (weights are in median
    match costs), so both keep their meaning whatever the image's contrast; 0 while no
    match has a cost yet."""
    finite = cost[torch.isfinite(cost)]
    if finite.numel() == 0:
        return 0.0
    return max(float(finite.median()), 1e-6)


# For each of the four neighbours at some jump: its offset (dy, dx), whether it lies inside
# the level, and its match (−1 where it has none), as read from the match map.
_NeighbourMatches = list[tuple[tuple[int, int], torch.Tensor, torch.Tensor]]


def _neighbour_matches(
    space: SearchSpace, ty: torch.Tensor, tx: torch.Tensor, match_map: torch.Tensor, jump: int
) -> _NeighbourMatches:
    """The matches of each target's four neighbours `jump` pixels away, read once per round
    for both the coherence bonus and propagation."""
    height, width = space.height, space.width
    found = []
    for dy, dx in _NEIGHBOURS:
        ny, nx = ty + dy * jump, tx + dx * jump
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        match = match_map[torch.where(inside, ny * width + nx, torch.zeros_like(ny))]
        found.append(((dy, dx), inside, match))
    return found


def _continued_copies(space: SearchSpace, near: _NeighbourMatches) -> torch.Tensor:
    """(4, N): for each of a target's four neighbours (`near`, jump 1), the source that would
    continue that neighbour's copy at the target (its match shifted back by the offset), −1
    where the neighbour lies outside the level or has no match: every candidate is then
    scored against it by comparisons alone."""
    width = space.width
    return torch.stack(
        [
            torch.where(inside & (match >= 0), match - (dy * width + dx), -1)
            for (dy, dx), inside, match in near
        ]
    )


def _agreeing_neighbours(
    continued: torch.Tensor, candidate: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """(N,) how many of each target's four neighbours copy on from `candidate`: a pixel
    whose neighbours come from the pixels next to its source is part of a coherent copy.

    Without this, neighbours in a smooth region take sources a few pixels apart, and the
    one-pixel votes turn the region's gradient into jitter."""
    return (continued == candidate).sum(0).to(dtype)


def _propagation_candidates(
    space: SearchSpace, neighbours: _NeighbourMatches, jump: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A neighbour's match shifted back by the offset. The search takes neighbours at
    distance 1 and (unless local) at a jump that doubles every round (2, 4, 8, …): a good
    match spreads quickly."""
    height, width = space.height, space.width
    candidates = []
    for (dy, dx), inside, match in neighbours:
        sy, sx = match // width - dy * jump, match % width - dx * jump
        ok = inside & (match >= 0) & (sy >= 0) & (sy < height) & (sx >= 0) & (sx < width)
        flat = torch.where(ok, sy * width + sx, torch.zeros_like(sy))
        candidates.append((flat, ok & space.source_ok[flat]))
    return candidates


def _random_candidates(
    space: SearchSpace,
    source: torch.Tensor,
    max_radius: int,
    generator: torch.Generator,
    local: bool,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    height, width = space.height, space.width
    sy, sx = source // width, source % width
    candidates = []
    radius = max(1, max_radius)
    while True:
        offsets = torch.randint(-radius, radius + 1, (2, source.numel()), generator=generator)
        offsets = offsets.to(source.device)
        cy, cx = sy + offsets[0], sx + offsets[1]
        ok = (cy >= 0) & (cy < height) & (cx >= 0) & (cx < width)
        flat = torch.where(ok, cy * width + cx, torch.zeros_like(cy))
        candidates.append((flat, ok & space.source_ok[flat]))
        if radius == 1:
            break
        radius //= 2
    for _ in range(0 if local else GLOBAL_CANDIDATES):
        pick = torch.randint(space.sources.numel(), (source.numel(),), generator=generator)
        anywhere = space.sources[pick.to(source.device)]
        candidates.append((anywhere, torch.ones_like(anywhere, dtype=torch.bool)))
    return candidates
