"""The SN-PatchGAN discriminator of §3.2: a map of patch scores, every layer spectrally
normalised (largest singular value 1), so Eq. 1's hinge cannot be won by scaling weights."""

from __future__ import annotations

import torch

from iic_engine.networks.discriminator import PatchDiscriminator


def test_every_layer_has_spectral_norm_one_and_the_output_is_a_patch_map() -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator().train()
    image, hole = torch.rand(2, 3, 128, 192) * 2 - 1, torch.zeros(2, 1, 128, 192)
    with torch.no_grad():
        for _ in range(30):  # each training forward pass runs one power iteration
            scores = discriminator(image, hole)
    assert scores.shape == (2, 1, 2, 3)  # one score per 64 px patch, not one per image
    convolutions = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convolutions) == 7
    for conv in convolutions:
        applied = conv.weight.detach().flatten(1)  # what spectral_norm hands the convolution
        stored = conv.parametrizations.weight.original.detach().flatten(1)
        assert abs(float(torch.linalg.matrix_norm(applied, ord=2)) - 1.0) < 0.02
        # The stored weights' norm is elsewhere (0.58–0.91 at initialisation): the
        # normalisation, not the initialisation, makes it 1.
        assert abs(float(torch.linalg.matrix_norm(stored, ord=2)) - 1.0) > 0.05
