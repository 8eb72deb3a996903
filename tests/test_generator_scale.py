"""Algorithm 1 at the generator's training size: what it sees, and what comes back."""

from __future__ import annotations

import numpy as np
import torch

from iic_engine import Inpainter
from iic_engine.confidence_feedback import iterative_inpaint
from iic_engine.generator_scale import GENERATOR_SIDE, iterative_inpaint_at_side


def _recording_generator():
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def generate(z: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append((z.clone(), hole.clone()))
        # A left-to-right ramp, and confidence that rises to the right.
        ramp = torch.linspace(-1, 1, z.shape[-1]).expand_as(z[:, :1])
        return ramp.expand_as(z).clone(), (ramp + 1) / 2

    return generate, seen


def _lone_hole_pixel(height: int, width: int) -> tuple[int, int]:
    """A one-pixel hole away from the main one: it must be a hole at the small size too."""
    return height * 3 // 4, width * 5 // 6


def _working_inputs(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand((1, 3, height, width), generator=generator) * 2 - 1
    hole = torch.zeros((1, 1, height, width))
    hole[..., height // 4 : height // 2, width // 3 : width * 2 // 3] = 1
    hole[(..., *_lone_hole_pixel(height, width))] = 1
    return image * (1 - hole), hole


def test_the_generator_runs_at_its_training_size_and_never_sees_a_hole_pixel():
    z1, m1 = _working_inputs(384, 472)
    generate, seen = _recording_generator()
    trace = iterative_inpaint_at_side(generate, z1, m1, iterations=4)

    assert len(seen) == 4
    for z, hole in seen:
        assert max(z.shape[-2:]) <= GENERATOR_SIDE
        assert z.shape[-2] % 8 == 0 and z.shape[-1] % 8 == 0
        assert not z[(hole > 0).expand_as(z)].any()  # holes are zero in the input
    first_hole = seen[0][1]
    scale = first_hole.shape[-1] / 472
    row, col = _lone_hole_pixel(384, 472)
    assert first_hole[0, 0, int(row * scale), int(col * scale)] == 1

    # Back at the working size: known pixels exactly as given, the fill the generator's.
    assert trace.completed.shape == z1.shape
    assert torch.equal(trace.completed[(m1 == 0).expand_as(z1)], z1[(m1 == 0).expand_as(z1)])
    filled = trace.completed[0, 0][m1[0, 0] > 0]
    assert filled.std() > 0.1  # the upsampled ramp, not zeros
    assert trace.fill_confidence.shape == m1.shape
    assert not trace.fill_confidence[m1 == 0].any()
    assert trace.fill_confidence[m1 > 0].max() > 0.5


def test_inputs_within_the_training_size_run_as_algorithm_1():
    z1, m1 = _working_inputs(256, 240)
    generate, _ = _recording_generator()
    scaled = iterative_inpaint_at_side(generate, z1, m1, iterations=2)
    plain = iterative_inpaint(generate, z1, m1, iterations=2)
    assert torch.equal(scaled.completed, plain.completed)
    assert torch.equal(scaled.fill_confidence, plain.fill_confidence)


def test_the_patch_path_runs_the_generator_small_and_the_learned_path_at_working_size():
    inpainter = Inpainter(device="cpu")
    sides: list[int] = []
    hook = inpainter.generator.register_forward_pre_hook(
        lambda _module, args: sides.append(max(args[0].shape[-2:]))
    )
    image = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    hole = np.zeros((512, 512), np.uint8)
    hole[180:330, 160:360] = 255
    try:
        inpainter.remove(image, hole, texture="patches", iterations=1)
        patch_sides, sides[:] = list(sides), []
        inpainter.remove(image, hole, texture="learned", iterations=1)
    finally:
        hook.remove()
    assert patch_sides and max(patch_sides) <= GENERATOR_SIDE
    assert max(sides) > GENERATOR_SIDE


def test_refine_rewrites_the_completion_at_the_generators_size_before_it_is_scaled():
    z1, m1 = _working_inputs(384, 472)
    generate, _ = _recording_generator()
    refined_sizes: list[torch.Size] = []

    def lift_the_hole(completed, small_z1, small_hole):
        refined_sizes.append(completed.shape)
        assert small_z1.shape[-2:] == small_hole.shape[-2:] == completed.shape[-2:]
        return completed + 0.5 * small_hole

    plain = iterative_inpaint_at_side(generate, z1, m1, iterations=2)
    refined = iterative_inpaint_at_side(generate, z1, m1, iterations=2, refine=lift_the_hole)
    assert len(refined_sizes) == 1 and max(refined_sizes[0][-2:]) <= GENERATOR_SIDE
    inside = m1[0, 0] > 0
    lifted = (refined.completed - plain.completed)[0, 0]
    assert lifted[inside].median() > 0.4  # the refinement arrives at the working size
    assert torch.equal(lifted[~inside], torch.zeros_like(lifted[~inside]))


def test_the_patch_path_continues_edges_and_the_learned_path_does_not(monkeypatch):
    import iic_engine.inpainter as inpainter_module

    calls: list[str] = []
    real = inpainter_module.continue_edges

    def counted(completed, incomplete, hole, **knobs):
        calls.append("edges")
        return real(completed, incomplete, hole, **knobs)

    monkeypatch.setattr(inpainter_module, "continue_edges", counted)
    inpainter = Inpainter(device="cpu")
    image = np.random.default_rng(1).integers(0, 256, (200, 240, 3), dtype=np.uint8)
    hole = np.zeros((200, 240), np.uint8)
    hole[60:140, 80:170] = 255
    inpainter.remove(image, hole, texture="patches", iterations=1)
    assert calls == ["edges"]
    inpainter.remove(image, hole, texture="learned", iterations=1)
    assert calls == ["edges"]
