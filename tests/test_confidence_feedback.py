"""Algorithm 1's mask bookkeeping, checked step by step with a scripted generator whose
images and confidences are chosen by the test."""

from __future__ import annotations

import torch

from iic_engine.confidence_feedback import iterative_inpaint


def _scripted_generator(images: list[torch.Tensor], confidences: list[torch.Tensor]):
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def generate(z: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = len(calls)
        calls.append((z.clone(), hole.clone()))
        return images[t], confidences[t]

    return generate, calls


def test_every_mask_update_and_image_follow_algorithm_1() -> None:
    # A 1×4 "image" with a 3-pixel hole: pixel 0 known, pixels 1..3 hole.
    m1 = torch.tensor([0.0, 1.0, 1.0, 1.0]).view(1, 1, 1, 4)
    known = torch.tensor([0.2, 0.0, 0.0, 0.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    z1 = known * (1 - m1)
    g = [torch.full((1, 3, 1, 4), v) for v in (0.1, 0.5, 0.9)]
    c = [
        torch.tensor([0.9, 0.7, 0.3, 0.2]).view(1, 1, 1, 4),  # t=1: pixel 1 above 0.5
        torch.tensor([0.9, 0.9, 0.1, 0.4]).view(1, 1, 1, 4),  # t=2: pixel 3 rose 0.2 → 0.4
        torch.tensor([0.9, 0.9, 0.2, 0.1]).view(1, 1, 1, 4),  # t=3: pixel 2 rose 0.1 → 0.2
    ]
    generate, calls = _scripted_generator(g, c)
    trace = iterative_inpaint(generate, z1, m1, iterations=3)

    it1, it2, it3 = trace.iterations
    # t = 1: c_1 = C∘m_1; u_1 = [c_1 − 0.5·m_1 > 0]; y_1 = z_1 + G∘m_1.
    assert torch.equal(it1.hole, m1)
    assert torch.allclose(it1.confidence.flatten(), torch.tensor([0.0, 0.7, 0.3, 0.2]))
    assert torch.equal(it1.update.flatten(), torch.tensor([0.0, 1.0, 0.0, 0.0]))
    assert torch.allclose(it1.completed[0, 0, 0], torch.tensor([0.2, 0.1, 0.1, 0.1]))
    # t = 2 sees m_2 = m_1 − u_1 and z_2 = y_1 with the remaining hole zeroed.
    assert torch.equal(calls[1][1].flatten(), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.allclose(calls[1][0][0, 0, 0], torch.tensor([0.2, 0.1, 0.0, 0.0]))
    assert torch.equal(it2.hole.flatten(), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    # u_2 = [c_2 − c_1∘m_2 > 0]: pixel 2: 0.1 − 0.3 < 0; pixel 3: 0.4 − 0.2 > 0.
    assert torch.equal(it2.update.flatten(), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert torch.allclose(it2.completed[0, 0, 0], torch.tensor([0.2, 0.1, 0.1, 0.5]))
    # t = 3: only pixel 2 is left; its confidence rose 0.1 → 0.2 so it takes G(z_3).
    assert torch.equal(it3.hole.flatten(), torch.tensor([0.0, 0.0, 1.0, 0.0]))
    assert torch.equal(it3.update.flatten(), torch.tensor([0.0, 0.0, 1.0, 0.0]))
    assert torch.allclose(trace.completed[0, 0, 0], torch.tensor([0.2, 0.1, 0.9, 0.5]))
    assert torch.equal(trace.remaining_hole, torch.zeros_like(m1))
    # Each hole pixel reports the confidence of the prediction it holds.
    assert torch.allclose(trace.fill_confidence.flatten(), torch.tensor([0.0, 0.7, 0.2, 0.4]))


def test_pixels_never_trusted_keep_the_first_prediction() -> None:
    m1 = torch.ones(1, 1, 2, 2)
    z1 = torch.zeros(1, 3, 2, 2)
    low = torch.full((1, 1, 2, 2), 0.2)
    g = [torch.full((1, 3, 2, 2), v) for v in (0.3, -0.6, 0.8, 0.1)]
    generate, calls = _scripted_generator(g, [low, low * 0.5, low * 0.5, low * 0.25])
    trace = iterative_inpaint(generate, z1, m1, iterations=4)
    assert len(calls) == 4
    assert torch.allclose(trace.completed, torch.full_like(z1, 0.3))
    assert torch.equal(trace.remaining_hole, m1)


def test_known_pixels_pass_through_unchanged() -> None:
    m1 = torch.zeros(1, 1, 8, 8)
    m1[..., 2:6, 2:6] = 1
    z1 = torch.rand(1, 3, 8, 8) * (1 - m1)
    # Fully confident everywhere, known pixels included: only masking c_t by the hole
    # (line 3) keeps the generator's values there out of the result.
    generate, _ = _scripted_generator(
        [torch.rand(1, 3, 8, 8) for _ in range(4)], [torch.ones(1, 1, 8, 8) for _ in range(4)]
    )
    trace = iterative_inpaint(generate, z1, m1, iterations=4)
    for step in trace.iterations:
        assert torch.equal(step.completed * (1 - m1), z1)
        assert not (step.update * (1 - m1)).any()
