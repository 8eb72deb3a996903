"""Architecture hyper-parameters, stored in every weights file so a loader can verify shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT")


def architecture_to_dict(config: Any) -> dict[str, object]:
    return asdict(config)


def architecture_from_dict(config_type: type[ConfigT], values: dict[str, Any]) -> ConfigT:
    """JSON gives lists where the dataclasses hold tuples."""
    return config_type(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass(frozen=True)
class GeneratorConfig:
    """Widths of the coarse and fine networks (§3.2, Fig. 3a).

    Defaults keep one full pass (coarse + fine, both decoders) at 256×256 under the
    12 GFLOPs budget; `bench/flops.py` prints the measured count.
    """

    coarse_channels: tuple[int, int, int] = (32, 64, 96)
    coarse_bottleneck_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1)
    coarse_decoder_channels: tuple[int, int] = (48, 24)
    fine_channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    fine_bottleneck_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4)
    confidence_channels: int = 48


@dataclass(frozen=True)
class UpsamplerConfig:
    """Guided upsampling network (§3.3, Fig. 3b).

    `cell` is the side, in low-resolution pixels, of one patch of the similarity feature map;
    the matching high-resolution patch is 2·cell pixels. `top_k` bounds the softmax of Eq. 6
    to the k most similar valid patches, which keeps cost linear in the hole's area.
    """

    similarity_channels: int = 64
    reconstruction_channels: tuple[int, int, int] = (8, 16, 32)
    cell: int = 4
    top_k: int = 16
    initial_softmax_scale: float = 10.0
