"""Stage 1: the iterative inpainting model (generator with confidence decoder) against the
SN-PatchGAN discriminator, with the losses of §3.2 summed over the feedback iterations."""

from __future__ import annotations

import torch
from torch import nn

from iic_engine.networks.discriminator import PatchDiscriminator
from iic_engine.networks.generator import Generator
from iic_engine.networks.push_pull_fill import push_pull_fill
from iic_engine.training.config import TrainingConfig
from iic_engine.training.feedback_training import FeedbackPass, FeedbackTraining, as_passes
from iic_engine.training.losses import (
    adversarial_share,
    coarse_loss,
    confidence_loss,
    discriminator_loss,
    inpainting_loss,
    structure_loss,
)
from iic_engine.training.runtime import Runtime


def _adam(module: nn.Module, config: TrainingConfig) -> torch.optim.Adam:
    return torch.optim.Adam(
        module.parameters(), lr=config.optim.learning_rate, betas=config.optim.betas
    )


def _composite(feedback_pass: FeedbackPass) -> torch.Tensor:
    """y∘m + z: the pass's result as the discriminator sees it (Eq. 1)."""
    return feedback_pass.image * feedback_pass.hole + feedback_pass.incomplete


class GeneratorStage:
    def __init__(self, config: TrainingConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        self.crop = config.data.crop
        self.generator = runtime.prepare(Generator(config.generator))
        self.discriminator = runtime.prepare(PatchDiscriminator(config.discriminator))
        self.feedback = FeedbackTraining(self.generator, config.loss.feedback_iterations)
        self.feedback_parallel = runtime.parallel(self.feedback)
        self.discriminator_parallel = runtime.parallel(self.discriminator)
        self.modules: dict[str, nn.Module] = {
            "generator": self.generator,
            "discriminator": self.discriminator,
        }
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "generator": _adam(self.generator, config),
            "discriminator": _adam(self.discriminator, config),
        }

    def _discriminator_step(
        self, images: torch.Tensor, holes: torch.Tensor, passes: list[FeedbackPass]
    ) -> torch.Tensor:
        fakes = torch.cat([_composite(p).detach() for p in passes])
        with self.runtime.autocast():
            scores = self.discriminator_parallel(
                torch.cat([images, fakes]), holes.repeat(len(passes) + 1, 1, 1, 1)
            ).float()
            loss = discriminator_loss(scores[: len(images)], scores[len(images) :])
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def _generator_losses(
        self,
        images: torch.Tensor,
        holes: torch.Tensor,
        passes: list[FeedbackPass],
        share: float,
    ) -> dict[str, torch.Tensor]:
        losses = self.config.loss

        # The discriminator is fixed here; the original hole says where fakes may be.
        def discriminate(image: torch.Tensor) -> torch.Tensor:
            return self.discriminator(image, holes).float()

        terms: dict[str, list[torch.Tensor]] = {"coarse": [], "inpainting": [], "confidence": []}
        for p in passes:
            output, confidence = p.image.float(), p.confidence.float()
            terms["coarse"].append(losses.coarse_l1_weight * coarse_loss(p.coarse.float(), images))
            terms["inpainting"].append(
                inpainting_loss(
                    output,
                    images,
                    p.incomplete,
                    p.hole,
                    discriminate,
                    share * losses.adversarial_weight,
                )
            )
            if losses.structure_l2_weight > 0:
                terms.setdefault("structure", []).append(
                    losses.structure_l2_weight
                    * structure_loss(output, images, holes, losses.structure_sigma)
                )
            # Eq. 3 trains the confidence decoder: the image it attends over is held fixed.
            terms["confidence"].append(
                confidence_loss(
                    output.detach(),
                    images,
                    p.incomplete,
                    p.hole,
                    confidence,
                    discriminate,
                    losses.confidence_lambda,
                    share * losses.confidence_adversarial_weight,
                )
            )
        return {name: torch.stack(values).sum() for name, values in terms.items()}

    def train_step(self, images: torch.Tensor, holes: torch.Tensor, step: int) -> dict[str, float]:
        images, holes = self.runtime.layout(images), self.runtime.layout(holes)
        self.generator.train()
        with self.runtime.autocast():
            pass_tensors, _ = self.feedback_parallel(images, holes)
        passes = as_passes(pass_tensors)
        losses = self.config.loss
        adversarial = losses.adversarial_weight > 0 or losses.confidence_adversarial_weight > 0
        # With both adversarial weights at 0 nothing reads D: training it would be wasted time.
        discriminator = (
            self._discriminator_step(images, holes, passes) if adversarial else torch.tensor(0.0)
        )
        share = adversarial_share(
            step, losses.adversarial_hold_steps, losses.adversarial_ramp_steps
        )
        self.discriminator.requires_grad_(False)
        try:
            with self.runtime.autocast():
                terms = self._generator_losses(images, holes, passes, share)
            total = torch.stack(list(terms.values())).sum()
            optimizer = self.optimizers["generator"]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
        finally:
            self.discriminator.requires_grad_(True)
        first, last = passes[0], passes[-1]
        hole_pixels = first.hole.sum().clamp(min=1)
        return {
            "discriminator": float(discriminator),
            **{name: float(value.detach()) for name, value in terms.items()},
            "total": float(total.detach()),
            "hole_confidence": float((first.confidence.detach() * first.hole).sum() / hole_pixels),
            "last_hole_share": float(last.hole.sum() / hole_pixels),
            "adversarial_share": share,
        }

    @torch.no_grad()
    def first_guess(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """What the networks refine, with nothing learned: the membrane fill."""
        incomplete = images * (1 - holes)
        return push_pull_fill(incomplete, holes) * holes + incomplete

    @torch.no_grad()
    def complete(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """The training-time completion (Algorithm 1, training's iteration count)."""
        self.generator.eval()
        with self.runtime.autocast():
            _, completed = self.feedback(self.runtime.layout(images), self.runtime.layout(holes))
        return completed.float()
