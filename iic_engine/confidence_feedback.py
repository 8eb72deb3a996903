"""Iterative inpainting with confidence feedback: Algorithm 1 of the paper (§3.2).

Each iteration trusts only the hole pixels whose confidence rose (the first iteration: rose
above 0.5), keeps them as known pixels, and asks the generator again for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# (z_t, m_t) -> (G(z_t), C(z_t)): image (B,3,H,W) in [-1,1] and confidence (B,1,H,W) in [0,1].
GenerateFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
IterationHook = Callable[[int], None]


@dataclass(frozen=True)
class FeedbackIteration:
    """The paper's per-iteration quantities, kept so a caller can show or test them."""

    hole: torch.Tensor  # m_t
    confidence: torch.Tensor  # c_t = C(z_t) ∘ m_t
    update: torch.Tensor  # u_t
    completed: torch.Tensor  # y_t


@dataclass(frozen=True)
class FeedbackTrace:
    completed: torch.Tensor  # y_T
    remaining_hole: torch.Tensor  # m_{T+1}: never trusted, holds an earlier prediction
    fill_confidence: torch.Tensor  # confidence of the prediction each hole pixel now holds
    iterations: tuple[FeedbackIteration, ...]


def binarize(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)


def iterative_inpaint(
    generate: GenerateFn,
    z1: torch.Tensor,
    m1: torch.Tensor,
    iterations: int,
    after_iteration: IterationHook | None = None,
) -> FeedbackTrace:
    """Algorithm 1. z1: (B,3,H,W) in [-1,1] with hole pixels 0; m1: (B,1,H,W), 1 = hole.

    Line 11 reads "z_{t+1} = y_t ∘ m_{t+1}" in the paper; with m the hole mask that would
    keep only hole pixels. The text ("we set the confident pixels as valid pixels in the new
    input and set the remaining low-confidence regions as new holes") and Eq. 1's definition
    of z fix it as z_{t+1} = y_t ∘ (1 − m_{t+1}), which is what runs here.
    `after_iteration(t)` is called after each iteration (progress, cancellation).
    """
    assert iterations >= 1
    c_prev = 0.5 * m1  # line 1
    m_t, z_t = m1, z1
    y_t = z1
    fill_confidence = torch.zeros_like(m1)
    trace: list[FeedbackIteration] = []
    for t in range(1, iterations + 1):
        g_t, raw_confidence = generate(z_t, m_t)
        c_t = raw_confidence * m_t  # line 3
        u_t = binarize(c_t - c_prev * m_t)  # line 4
        m_next = m_t - u_t  # line 5
        if t == 1:
            y_t = z1 + g_t * m1  # line 7
            fill_confidence = c_t
        else:
            y_t = g_t * u_t + y_t * (1 - u_t)  # line 9
            fill_confidence = c_t * u_t + fill_confidence * (1 - u_t)
        z_t = y_t * (1 - m_next)  # line 11 (see docstring)
        trace.append(FeedbackIteration(hole=m_t, confidence=c_t, update=u_t, completed=y_t))
        c_prev, m_t = c_t, m_next
        if after_iteration is not None:
            after_iteration(t)
    return FeedbackTrace(
        completed=y_t, remaining_hole=m_t, fill_confidence=fill_confidence, iterations=tuple(trace)
    )
