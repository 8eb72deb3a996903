"""The paper's losses (§3.2): hinge GAN for D (Eq. 1), inpainting loss for G (Eq. 2),
confidence loss (Eq. 3), L1 on the coarse output, and a departure from the paper: a
squared error on the composite's low frequencies (`structure_loss`).

Every norm is the paper's sum divided by the image's element count (C·H·W; an L1 norm of an
image is its mean absolute value), so the loss scale does not depend on the crop size while
the terms keep the paper's proportions: in Eq. 3 a pixel is worth trusting when its error
summed over the colour channels, in [-1,1] units, is below λ = 0.1. Images are (B,3,H,W) in
[-1,1], holes and confidence (B,1,H,W); `discriminate(image)` returns the score map
(B,1,h,w) (the trainer binds whatever else the discriminator is conditioned on).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from iic_engine.patch_synthesis import gaussian_blur

Discriminate = Callable[[torch.Tensor], torch.Tensor]

# Keeps the gradient of the L2 norm finite when the whole hole is fully confident.
_NORM_EPSILON = 1e-12


def coarse_loss(coarse: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 reconstruction on the coarse network's output (§3.2)."""
    return (coarse - target).abs().mean()


def structure_loss(
    output: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Mean squared error of the composite's low frequencies (a Gaussian of `sigma` px).

    The engine keeps only the fill's low frequencies (the patch synthesis brings the
    detail), and PSNR scores them by their squared error: L1 leads to the median of the
    plausible colours, this to their mean, which is what a squared error rewards.
    """
    # The blur is linear: blurring the composite's error (zero outside the hole) is the
    # difference of the blurred composite and target, with one blur instead of two.
    return gaussian_blur((output - target) * hole, sigma).square().mean()


def adversarial_share(step: int, hold_steps: int, ramp_steps: int) -> float:
    """The share of its adversarial weights the generator's losses take at `step` (0-based):
    none while D is held back, then a linear ramp to all of it."""
    if step < hold_steps:
        return 0.0
    if ramp_steps <= 0:
        return 1.0
    return min(1.0, (step - hold_steps + 1) / ramp_steps)


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Eq. 1: E[ReLU(1 − D(x))] + E[ReLU(1 + D(G(z)∘m + z))]."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def inpainting_loss(
    output: torch.Tensor,
    target: torch.Tensor,
    incomplete: torch.Tensor,
    hole: torch.Tensor,
    discriminate: Discriminate,
    adversarial_weight: float = 1.0,
) -> torch.Tensor:
    """Eq. 2: L(y) = ReLU(1 − D(y∘m + z)) + ‖y − x‖₁, averaged over the batch."""
    y, x, z, m = output, target, incomplete, hole
    reconstruction = (y - x).abs().mean()
    if adversarial_weight == 0:  # a reconstruction-only run need not evaluate D at all
        return reconstruction
    adversarial = F.relu(1 - discriminate(y * m + z)).mean()
    return adversarial_weight * adversarial + reconstruction


def confidence_loss(
    output: torch.Tensor,
    target: torch.Tensor,
    incomplete: torch.Tensor,
    hole: torch.Tensor,
    confidence: torch.Tensor,
    discriminate: Discriminate,
    confidence_lambda: float = 0.1,
    adversarial_weight: float = 1.0,
) -> torch.Tensor:
    """Eq. 3: L(y∘c + x∘(1 − c)) + λ(‖(1 − c)∘m‖₁ + ‖(1 − c)∘m‖₂).

    The confidence map attends over the output: where it is confident the loss sees the
    output, elsewhere the ground truth; λ keeps it from choosing the ground truth everywhere.
    Both norms are per image, divided by the image's element count C·H·W like the L1 inside
    L, and averaged over the batch.
    """
    y, x, z, m, c = output, target, incomplete, hole, confidence
    attended = y * c + x * (1 - c)
    unconfident_hole = ((1 - c) * m).flatten(1)
    elements = y[0].numel()
    l1_norm = (unconfident_hole.abs().sum(dim=1) / elements).mean()
    l2_norm = ((unconfident_hole.square().sum(dim=1) + _NORM_EPSILON).sqrt() / elements).mean()
    return inpainting_loss(
        attended, x, z, m, discriminate, adversarial_weight
    ) + confidence_lambda * (l1_norm + l2_norm)
