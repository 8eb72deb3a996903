"""The generator run through the confidence feedback for training (§3.2).

"When training, we iterate twice": each iteration's input is built exactly as Algorithm 1
(lines 3–11, `iic_engine.confidence_feedback.iterative_inpaint`) builds it at inference,
from the previous iteration's *detached* output and confidence, so the loss of each pass
trains the generator on the kind of input it will see at that iteration.

DDP wraps this module (not the bare generator) so that all passes are one forward call and
gradients are reduced once per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from iic_engine.confidence_feedback import iterative_inpaint
from iic_engine.networks.generator import Generator


@dataclass(frozen=True)
class FeedbackPass:
    """One iteration: its input z_t (B,3,H,W) and hole m_t (B,1,H,W), and what G made of it."""

    incomplete: torch.Tensor
    hole: torch.Tensor
    coarse: torch.Tensor
    image: torch.Tensor
    confidence: torch.Tensor


# Per pass (incomplete, hole, coarse, image, confidence): plain tensors cross the DDP boundary.
PassTensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class FeedbackTraining(nn.Module):
    def __init__(self, generator: Generator, iterations: int) -> None:
        super().__init__()
        self.generator = generator
        self.iterations = iterations

    def forward(
        self, image: torch.Tensor, hole: torch.Tensor
    ) -> tuple[tuple[PassTensors, ...], torch.Tensor]:
        """image (B,3,H,W) in [-1,1] (ground truth), hole (B,1,H,W) → per-pass tensors and
        the completed image y_T (detached)."""
        passes: list[PassTensors] = []

        def generate(z: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            output = self.generator(z, m)
            passes.append((z, m, output.coarse, output.image, output.confidence))
            return output.image.detach(), output.confidence.detach()

        trace = iterative_inpaint(generate, image * (1 - hole), hole, self.iterations)
        return tuple(passes), trace.completed


def as_passes(tensors: tuple[PassTensors, ...]) -> list[FeedbackPass]:
    return [FeedbackPass(*values) for values in tensors]
