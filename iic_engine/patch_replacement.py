"""Eq. 5–6: replace each hole patch by a softmax-weighted sum of valid patches.

Scores are cosine similarities of the similarity network's features; weights and sums use
the reconstruction network's high-resolution feature patches. Hole patches are processed in
chunks so the score matrix never exceeds `chunk × sources` entries, and the softmax runs
over each hole patch's `top_k` best sources, so memory is bounded at any image size and
the cost grows with the hole, not with the image. The caller gathers the source patches
and writes the blended ones back, so no copy of the whole feature map is made here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Rows of the score matrix per step: 512 × 4,096 float scores (8 MiB) stay in cache better
# than larger chunks and make no difference to the answer.
DEFAULT_CHUNK = 512


def blend_source_patches(
    hole_queries: torch.Tensor,
    source_queries: torch.Tensor,
    source_patches: torch.Tensor,
    scale: torch.Tensor | float,
    top_k: int | None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Eq. 5: each hole patch becomes Σ_j softmax(s_ij)·φ_j over the sources j ∈ V.

    hole_queries (n,C) and source_queries (S,C): similarity features (the s_ij of Eq. 6 are
    their cosine similarities times `scale`); source_patches (S,D): flattened HR feature
    patches φ_j. Returns (n,D). `top_k=None` is the exact softmax over all of V.
    """
    keys = F.normalize(source_queries, dim=1).T.contiguous()
    k = keys.shape[1] if top_k is None else min(top_k, keys.shape[1])
    blended = [
        _blend_chunk(F.normalize(rows, dim=1) * scale, keys, source_patches, k)
        for rows in hole_queries.split(chunk)
    ]
    return torch.cat(blended).to(source_patches.dtype)


def _blend_chunk(
    scaled_query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, k: int
) -> torch.Tensor:
    # Scaling the (n,C) queries rather than the (n,S) scores saves a pass over the scores.
    scores = scaled_query @ keys.to(scaled_query.dtype)
    if k == keys.shape[1]:
        return torch.softmax(scores, dim=1).to(values.dtype) @ values
    best, best_index = scores.topk(k, dim=1)
    weights = torch.softmax(best.float(), dim=1).to(values.dtype)
    # A weighted bag of k rows: no (n,k,D) gathered copy of the patches.
    return F.embedding_bag(best_index, values, per_sample_weights=weights, mode="sum")


def limit_sources(
    source_cells: torch.Tensor,
    hole_cells: torch.Tensor,
    grid_shape: tuple[int, int],
    max_sources: int,
) -> torch.Tensor:
    """Keep at most `max_sources` source cells, nearest to the hole first: one-cell rings
    around the hole are kept whole while they fit, and the first ring that does not fit
    contributes a uniform stride of its cells.

    Texture close to the hole is the likeliest match, and the kept cells form a compact
    band around the hole, so the similarity and reconstruction networks need not run on
    the rest of a large crop (`GuidedUpsampler`). Distant texture still reaches the fill
    through the coarser stages, where the whole crop fits the budget.
    """
    if int(source_cells.sum()) <= max_sources:
        return source_cells
    if not bool(hole_cells.any()):
        # No patch lies wholly in the hole (a thin selection): nothing is replaced, so no
        # source is read. (Growing rings around nothing would never end.)
        return torch.zeros_like(source_cells)
    near = hole_cells.view(1, 1, *grid_shape).float()
    kept = torch.zeros_like(source_cells)
    while True:
        near = F.max_pool2d(near, 3, stride=1, padding=1)
        ring = source_cells & (near.view(-1) > 0) & ~kept
        budget = max_sources - int(kept.sum())
        if int(ring.sum()) >= budget:
            return kept | _strided_subset(ring, budget)
        kept |= ring


def _strided_subset(cells: torch.Tensor, count: int) -> torch.Tensor:
    index = cells.nonzero().squeeze(1)
    if index.numel() > count:
        index = index[torch.linspace(0, index.numel() - 1, count, device=index.device).long()]
    subset = torch.zeros_like(cells)
    subset[index] = True
    return subset
