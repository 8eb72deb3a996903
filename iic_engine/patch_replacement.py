"""Eq. 5–6: replace each hole patch by a softmax-weighted sum of valid patches.

Scores are cosine similarities of the similarity network's features; weights and sums use
the reconstruction network's high-resolution feature patches. Hole patches are processed in
chunks so the score matrix never exceeds `chunk × sources` entries, and the softmax runs
over each hole patch's `top_k` best sources, so memory is bounded at any image size and
the cost grows with the hole, not with the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_CHUNK = 1024


def replace_hole_patches(
    queries: torch.Tensor,
    patches: torch.Tensor,
    hole_cells: torch.Tensor,
    source_cells: torch.Tensor,
    scale: torch.Tensor | float,
    top_k: int | None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """queries (N,C) similarity features; patches (N,D) flattened HR feature patches.

    hole_cells, source_cells: (N,) bool (the paper's H and V). Returns patches with every
    hole row replaced (Eq. 5); `top_k=None` is the exact softmax over all of V (Eq. 6).
    Hole rows stay as they are when V is empty.
    """
    hole_index = hole_cells.nonzero().squeeze(1)
    source_index = source_cells.nonzero().squeeze(1)
    if hole_index.numel() == 0 or source_index.numel() == 0:
        return patches
    keys = F.normalize(queries[source_index], dim=1)
    values = patches[source_index]
    k = source_index.numel() if top_k is None else min(top_k, source_index.numel())
    replaced = [
        _replace_chunk(F.normalize(queries[rows], dim=1), keys, values, scale, k)
        for rows in hole_index.split(chunk)
    ]
    return patches.index_copy(0, hole_index, torch.cat(replaced).to(patches.dtype))


def _replace_chunk(
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    scale: torch.Tensor | float,
    k: int,
) -> torch.Tensor:
    scores = (query @ keys.T) * scale  # s_ij, cosine similarity (Eq. 6 logits)
    if k == keys.shape[0]:
        return torch.softmax(scores, dim=1) @ values
    best, best_index = scores.topk(k, dim=1)
    weights = torch.softmax(best, dim=1)
    return torch.einsum("nk,nkd->nd", weights, values[best_index])


def limit_sources(
    source_cells: torch.Tensor,
    hole_cells: torch.Tensor,
    grid_shape: tuple[int, int],
    max_sources: int,
    ring_cells: int = 8,
) -> torch.Tensor:
    """Keep at most `max_sources` source cells, nearest to the hole first: rings of growing
    width (`ring_cells`, then doubling) are kept whole while they fit, and the first ring
    that does not fit contributes a uniform stride of its cells.

    Texture close to the hole is the likeliest match, and the kept cells stay together
    around the hole, so the reconstruction network need not run on the rest of a large
    crop (`GuidedUpsampler`). Distant texture still reaches the fill through the coarser
    stages, where the whole crop fits the budget.
    """
    if int(source_cells.sum()) <= max_sources:
        return source_cells
    hole_grid = hole_cells.view(1, 1, *grid_shape).float()
    kept = torch.zeros_like(source_cells)
    radius = ring_cells
    while True:
        near = F.max_pool2d(hole_grid, 2 * radius + 1, stride=1, padding=radius).view(-1) > 0
        ring = source_cells & near & ~kept
        budget = max_sources - int(kept.sum())
        if int(ring.sum()) >= budget:
            return kept | _strided_subset(ring, budget)
        kept |= ring
        radius *= 2


def _strided_subset(cells: torch.Tensor, count: int) -> torch.Tensor:
    index = cells.nonzero().squeeze(1)
    if index.numel() > count:
        index = index[torch.linspace(0, index.numel() - 1, count, device=index.device).long()]
    subset = torch.zeros_like(cells)
    subset[index] = True
    return subset
