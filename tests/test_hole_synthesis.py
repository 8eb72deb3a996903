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


def test_a_placed_object_is_the_silhouette_warped_as_opencv_warps_it(
    pool: ObjectMaskPool,
) -> None:
    # Drawn without OpenCV (the GPU machine has none), checked against it.
    from iic_engine.training.hole_synthesis import _place_object

    for seed, shape in enumerate(pool.masks[:20]):
        placed = _place_object(np.random.default_rng(seed), shape, 0.2, SIZE, 45)
        rng = np.random.default_rng(seed)
        flipped = shape[:, ::-1] if rng.random() < 0.5 else shape
        h, w = flipped.shape
        scale = np.sqrt(0.2 * SIZE * SIZE / max(int(flipped.sum()), 1))
        angle = rng.uniform(-45, 45)
        cos, sin = abs(np.cos(np.radians(angle))), abs(np.sin(np.radians(angle)))
        half_x, half_y = scale * (w * cos + h * sin) / 2, scale * (w * sin + h * cos) / 2
        centre_x = rng.uniform(min(half_x, SIZE - half_x), max(half_x, SIZE - half_x))
        centre_y = rng.uniform(min(half_y, SIZE - half_y), max(half_y, SIZE - half_y))
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[:, 2] += (centre_x - w / 2, centre_y - h / 2)
        silhouette = np.ascontiguousarray(flipped, dtype=np.uint8) * 255
        expected = cv2.warpAffine(silhouette, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR) > 127
        assert expected.sum() > 0
        assert (placed ^ expected).sum() <= 0.01 * expected.sum() + 2


def test_a_stroke_covers_what_opencvs_thick_polyline_covers() -> None:
    from iic_engine.training.hole_synthesis import _draw_capsule

    rng = np.random.default_rng(5)
    for width in (3, 9, 20):
        points = np.round(rng.uniform(0, SIZE - 1, (5, 2)))
        drawn = np.zeros((SIZE, SIZE), np.uint8)
        for start, end in zip(points[:-1], points[1:], strict=True):
            _draw_capsule(drawn, start, end, (width + 1) / 2)
        expected = np.zeros_like(drawn)
        cv2.polylines(expected, [points.astype(np.int32)], False, color=1, thickness=width)
        for x, y in points.astype(int):
            cv2.circle(expected, (int(x), int(y)), width // 2, color=1, thickness=-1)
        assert (drawn != expected).sum() <= 0.2 * expected.sum()
