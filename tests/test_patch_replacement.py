"""Eq. 5–6 patch replacement: chunking and top-k must not change the answer they bound."""

from __future__ import annotations

import torch

from iic_engine.patch_replacement import DEFAULT_CHUNK, blend_source_patches, limit_sources


def replace_hole_patches(queries, patches, hole, source, scale, top_k, chunk=DEFAULT_CHUNK):
    """Every hole row of `patches` blended from the source rows, the rest unchanged."""
    out = patches.clone()
    out[hole] = blend_source_patches(
        queries[hole], queries[source], patches[source], scale, top_k, chunk
    )
    return out


def _dense_reference(queries, patches, hole, source, scale):
    """Eq. 5–6 written out directly, one hole patch at a time."""
    out = patches.clone()
    q = torch.nn.functional.normalize(queries, dim=1)
    for i in hole.nonzero().flatten():
        scores = torch.stack([scale * (q[i] @ q[j]) for j in source.nonzero().flatten()])
        weights = torch.softmax(scores, dim=0)
        out[i] = sum(
            w * patches[j] for w, j in zip(weights, source.nonzero().flatten(), strict=True)
        )
    return out


def _problem(n: int = 60, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(n, 8, generator=generator)
    patches = torch.randn(n, 12, generator=generator)
    hole = torch.zeros(n, dtype=torch.bool)
    hole[10:35] = True
    source = ~hole
    source[50:] = False  # e.g. an avoid region
    return queries, patches, hole, source


def test_exact_softmax_matches_equations_5_and_6() -> None:
    queries, patches, hole, source = _problem()
    result = replace_hole_patches(queries, patches, hole, source, 10.0, top_k=None)
    assert torch.allclose(result, _dense_reference(queries, patches, hole, source, 10.0), atol=1e-5)


def test_chunked_equals_unchunked() -> None:
    queries, patches, hole, source = _problem()
    for top_k in (None, 4):
        whole = replace_hole_patches(queries, patches, hole, source, 10.0, top_k, chunk=10_000)
        chunked = replace_hole_patches(queries, patches, hole, source, 10.0, top_k, chunk=3)
        assert torch.allclose(whole, chunked, atol=1e-6)


def test_top_k_covering_all_sources_is_exact_and_valid_rows_untouched() -> None:
    queries, patches, hole, source = _problem()
    exact = replace_hole_patches(queries, patches, hole, source, 10.0, top_k=None)
    top_all = replace_hole_patches(queries, patches, hole, source, 10.0, top_k=1000)
    assert torch.allclose(exact, top_all, atol=1e-6)
    assert torch.equal(exact[~hole], patches[~hole])


def test_fill_uses_only_sources() -> None:
    queries, patches, hole, source = _problem()
    # A non-source patch identical to the hole's query would win if it were in V.
    queries[55] = queries[12] * 5
    patches[55] = 1000.0
    result = replace_hole_patches(queries, patches, hole, source, 50.0, top_k=4)
    assert result[hole].abs().max() < 100


def test_limit_sources_keeps_the_nearest_cells_and_bounds_the_count() -> None:
    grid = (32, 32)
    hole = torch.zeros(grid, dtype=torch.bool)
    hole[14:18, 14:18] = True
    source = ~hole
    kept = limit_sources(source.flatten(), hole.flatten(), grid, max_sources=100)
    assert int(kept.sum()) == 100
    assert not bool((kept & hole.flatten()).any())
    # Rings up to 3 cells from the hole hold 84 sources: all kept ...
    within_three = torch.zeros(grid, dtype=torch.bool)
    within_three[11:21, 11:21] = True
    within_three &= ~hole
    assert bool(kept[within_three.flatten()].all())
    # ... and the other 16 come from the fourth ring, nothing from farther away, so the
    # kept cells form a compact band around the hole.
    within_four = torch.zeros(grid, dtype=torch.bool)
    within_four[10:22, 10:22] = True
    assert not bool(kept[~within_four.flatten()].any())


def test_limit_sources_without_a_whole_hole_cell_returns_at_once() -> None:
    """A selection thinner than a patch leaves no cell wholly in the hole: nothing will be
    replaced, so no source is needed (and there is no ring to grow around)."""
    grid = (64, 64)
    no_hole = torch.zeros(grid, dtype=torch.bool).flatten()
    kept = limit_sources(~no_hole, no_hole, grid, max_sources=100)
    assert not bool(kept.any())
