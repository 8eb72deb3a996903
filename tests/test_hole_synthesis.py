"""Training holes: the spread of sizes the paper's Fig. 9 bins need, the salient-object
rule of §3.1, and reproducibility under a seed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from shared_files import SHARED_DATA

from iic_engine.training.config import HoleConfig
from iic_engine.training.hole_synthesis import HoleSampler, ObjectMaskPool, hole_ratio

MASKS = SHARED_DATA / "masks"
SIZE = 96


@pytest.fixture(scope="module")
def pool() -> ObjectMaskPool:
    paths = sorted(MASKS.glob("*.png"))[::60]
    return ObjectMaskPool(tuple(np.asarray(Image.open(p).convert("L")) > 127 for p in paths))


def test_hole_ratios_spread_from_small_to_large(pool: ObjectMaskPool) -> None:
    sampler = HoleSampler(HoleConfig(), pool)
    rng = np.random.default_rng(0)
    ratios = np.array([hole_ratio(sampler.sample(rng, SIZE)) for _ in range(300)])
    assert (ratios > 0).all() and (ratios < 0.95).all()
    for low, high in [(0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 1.0)]:
        share = ((ratios >= low) & (ratios < high)).mean()
        assert share > 0.04, f"only {share:.0%} of holes cover {low:.0%}–{high:.0%}"


def test_object_and_stroke_holes_are_mixed_by_config() -> None:
    # One square silhouette: an object hole is then made of (rotated) squares, each part
    # convex; brush strokes bend, so their parts are far from convex.
    squares = ObjectMaskPool((np.ones((40, 40), bool),))
    rng = np.random.default_rng(1)

    def solidities(share: float, count: int) -> list[float]:
        sampler = HoleSampler(HoleConfig(object_share=share), squares)
        return [_least_solidity(sampler.sample(rng, SIZE)) for _ in range(count)]

    assert np.median(solidities(1.0, 20)) > 0.95
    assert np.median(solidities(0.0, 20)) < 0.85
    mixed = solidities(0.5, 40)
    assert min(mixed) < 0.85 and max(mixed) > 0.95  # both kinds appear


def _least_solidity(hole: np.ndarray) -> float:
    """The smallest area / convex-hull area over the hole's connected parts."""
    count, labels = cv2.connectedComponents(hole.astype(np.uint8))
    values = []
    for label in range(1, count):
        part = (labels == label).astype(np.uint8)
        contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull_area = cv2.contourArea(cv2.convexHull(np.concatenate(contours)))
        if hull_area > 0:
            values.append(part.sum() / hull_area)
    return min(values) if values else 0.0


def test_salient_object_is_subtracted_from_the_hole_in_the_configured_share(
    pool: ObjectMaskPool,
) -> None:
    salient = np.zeros((SIZE, SIZE), dtype=bool)
    salient[:, : SIZE // 2] = True
    always = HoleSampler(HoleConfig(salient_subtraction_share=1.0), pool)
    never = HoleSampler(HoleConfig(salient_subtraction_share=0.0), pool)
    rng = np.random.default_rng(2)
    subtracted = [always.sample(rng, SIZE, salient) for _ in range(40)]
    assert all(hole.any() and not (hole & salient).any() for hole in subtracted)
    kept = [never.sample(rng, SIZE, salient) for _ in range(40)]
    assert sum((hole & salient).any() for hole in kept) > 20


def test_same_seed_same_holes(pool: ObjectMaskPool) -> None:
    sampler = HoleSampler(HoleConfig(), pool)
    first = [sampler.sample(np.random.default_rng(7), SIZE) for _ in range(3)]
    again = [sampler.sample(np.random.default_rng(7), SIZE) for _ in range(3)]
    other = sampler.sample(np.random.default_rng(8), SIZE)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other)
