"""Stage 2: the guided upsampler (§3.3), trained separately to lift a completed low-
resolution image to twice its size, with L1 + the adversarial loss of Eq. 2.

The low-resolution input is built the way the inference cascade builds it
(`iic_engine.guided_upsampling.build_pyramid`): area-averaged pixels, and a low-resolution
pixel is a hole if any pixel under it is. It is completed by a trained generator (a model file,
so the stage carries 2 MiB of fp16 weights rather than a training checkpoint) run through the
confidence feedback when the config names one, and is the ground truth otherwise.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from iic_engine.networks.discriminator import PatchDiscriminator
from iic_engine.networks.guided_upsampler import GuidedUpsampler
from iic_engine.training.config import TrainingConfig
from iic_engine.training.feedback_training import FeedbackTraining
from iic_engine.training.losses import adversarial_share, discriminator_loss, inpainting_loss
from iic_engine.training.runtime import Runtime
from iic_engine.weights import load_weights


def _parameter_groups(upsampler: GuidedUpsampler, scale_learning_rate: float) -> list[dict]:
    """The softmax temperature, with its own rate when one is set, then the network's weights.
    `parameters()` yields the temperature (a direct parameter) first, so the order matches a
    single group's and a checkpoint saved before the split still resumes (`load_checkpoint`
    regroups)."""
    if scale_learning_rate <= 0:
        return [{"params": list(upsampler.parameters())}]
    weights = [p for name, p in upsampler.named_parameters() if name != "softmax_scale"]
    return [
        {"params": [upsampler.softmax_scale], "lr": scale_learning_rate},
        {"params": weights},
    ]


class UpsamplerStage:
    def __init__(self, config: TrainingConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        self.crop = config.upsampler_stage.hr_crop
        self.upsampler = runtime.prepare(GuidedUpsampler(config.upsampler))
        self.discriminator = runtime.prepare(PatchDiscriminator(config.discriminator))
        self.upsampler_parallel = runtime.parallel(self.upsampler)
        self.discriminator_parallel = runtime.parallel(self.discriminator)
        self.low_resolution = self._low_resolution_completion(config)
        self.modules: dict[str, nn.Module] = {
            "upsampler": self.upsampler,
            "discriminator": self.discriminator,
        }
        optim = config.optim
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "upsampler": torch.optim.Adam(
                _parameter_groups(self.upsampler, optim.softmax_scale_learning_rate),
                lr=optim.learning_rate,
                betas=optim.betas,
            ),
            "discriminator": torch.optim.Adam(
                self.discriminator.parameters(), lr=optim.learning_rate, betas=optim.betas
            ),
        }

    def _low_resolution_completion(self, config: TrainingConfig) -> FeedbackTraining | None:
        path = config.upsampler_stage.generator_weights
        if not path:
            return None
        generator = load_weights(Path(path)).generator
        generator.requires_grad_(False)
        return FeedbackTraining(self.runtime.prepare(generator), config.loss.feedback_iterations)

    @torch.no_grad()
    def _inputs(
        self, images: torch.Tensor, holes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """→ completed low-resolution image (B,3,h,w), high-resolution input with holes zeroed."""
        low = F.avg_pool2d(images, 2)
        low_holes = F.max_pool2d(holes, 2)
        if self.low_resolution is not None:
            with self.runtime.autocast():
                _, low = self.low_resolution(low, low_holes)
        return low.float(), images * (1 - holes)

    def train_step(self, images: torch.Tensor, holes: torch.Tensor, step: int) -> dict[str, float]:
        images, holes = self.runtime.layout(images), self.runtime.layout(holes)
        low, incomplete = self._inputs(images, holes)
        self.upsampler.train()
        with self.runtime.autocast():
            output = self.upsampler_parallel(low, incomplete, holes).image.float()
        losses = self.config.loss
        if losses.adversarial_weight > 0:
            d_loss = self._discriminator_step(images, output.detach() * holes + incomplete, holes)
        else:  # nothing reads D: training it would be wasted time
            d_loss = torch.tensor(0.0)
        share = adversarial_share(
            step, losses.adversarial_hold_steps, losses.adversarial_ramp_steps
        )
        self.discriminator.requires_grad_(False)
        try:
            with self.runtime.autocast():
                g_loss = inpainting_loss(
                    output,
                    images,
                    incomplete,
                    holes,
                    lambda image: self.discriminator(image, holes).float(),
                    share * losses.adversarial_weight,
                )
            self.optimizers["upsampler"].zero_grad(set_to_none=True)
            g_loss.backward()
            self.optimizers["upsampler"].step()
        finally:
            self.discriminator.requires_grad_(True)
        return {"discriminator": float(d_loss.detach()), "inpainting": float(g_loss.detach())}

    def _discriminator_step(
        self, images: torch.Tensor, fake: torch.Tensor, holes: torch.Tensor
    ) -> torch.Tensor:
        with self.runtime.autocast():
            scores = self.discriminator_parallel(
                torch.cat([images, fake]), holes.repeat(2, 1, 1, 1)
            )
            d_loss = discriminator_loss(
                scores[: len(images)].float(), scores[len(images) :].float()
            )
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["discriminator"].step()
        return d_loss.detach()

    @torch.no_grad()
    def first_guess(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """What the network refines, with nothing learned: the low-resolution completion
        upsampled bilinearly."""
        low, incomplete = self._inputs(images, holes)
        upsampled = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)
        return upsampled * holes + incomplete

    @torch.no_grad()
    def complete(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        self.upsampler.eval()
        low, incomplete = self._inputs(images, holes)
        with self.runtime.autocast():
            output = self.upsampler(low, incomplete, holes).image.float()
        return output * holes + incomplete
