"""FLOPs of one full generator pass (coarse + fine, both decoders) at 256×256 — the budget
is 12 GFLOPs — and of one guided-upsampling stage 256→512, counted by
torch.utils.flop_counter. Run: python bench/flops.py"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from iic_engine.networks.generator import Generator
from iic_engine.networks.guided_upsampler import GuidedUpsampler

GENERATOR_BUDGET_GFLOPS = 12.0


def count_gflops(run) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / 1e9


def main() -> None:
    torch.manual_seed(0)
    generator = Generator().eval()
    upsampler = GuidedUpsampler().eval()
    hole = torch.zeros(1, 1, 256, 256)
    hole[..., 64:192, 64:192] = 1
    z = torch.rand(1, 3, 256, 256) * 2 - 1
    generator_gflops = count_gflops(lambda: generator(z * (1 - hole), hole))
    hr_hole = torch.nn.functional.interpolate(hole, scale_factor=2.0)
    hr = torch.rand(1, 3, 512, 512) * 2 - 1
    upsampler_gflops = count_gflops(lambda: upsampler(z, hr * (1 - hr_hole), hr_hole))
    parameters = sum(p.numel() for p in generator.parameters()) / 1e6
    print("| network | input | GFLOPs | budget | parameters |")
    print("|---|---|---|---|---|")
    print(
        f"| generator (coarse + fine, image + confidence decoders) | 256×256 | "
        f"{generator_gflops:.2f} | {GENERATOR_BUDGET_GFLOPS:.0f} | {parameters:.2f} M |"
    )
    up_parameters = sum(p.numel() for p in upsampler.parameters()) / 1e6
    print(
        f"| guided upsampler, one ×2 stage | 256→512 | {upsampler_gflops:.2f} | – | "
        f"{up_parameters:.2f} M |"
    )
    print(f"\nAlgorithm 1 with T=4 at 256×256: {4 * generator_gflops:.1f} GFLOPs")


if __name__ == "__main__":
    main()
