"""Where a training run executes: device, precision, memory layout, and DDP when launched by
`torchrun` (its WORLD_SIZE / RANK / LOCAL_RANK environment), with the same config on every rank."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from iic_engine.device import select_device

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    precision: str = "auto"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def channels_last(self) -> bool:
        # Faster convolutions with tensor cores; on the CPU it measured no better.
        return self.device.type == "cuda"

    @property
    def uses_bf16(self) -> bool:
        if self.precision == "auto":
            return self.device.type == "cuda"
        return self.precision == "bf16"

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bf16 autocast where the run's precision asks for it; full precision otherwise."""
        if self.uses_bf16:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                yield
        else:
            yield

    def prepare(self, module: ModuleT) -> ModuleT:
        module = module.to(self.device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return module

    def layout(self, tensor: torch.Tensor) -> torch.Tensor:
        return (
            tensor.contiguous(memory_format=torch.channels_last) if self.channels_last else tensor
        )

    def parallel(self, module: nn.Module) -> nn.Module:
        """DDP-wrapped under torchrun, the module itself otherwise."""
        if not self.distributed:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def agree(self, flag: bool) -> bool:
        """True on every rank if it is true on any (so all ranks stop at the same step)."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def replicas_agree(self, modules: Iterable[nn.Module]) -> bool:
        """True if every rank holds the same weights, as DDP should keep them (one all-reduce
        of per-parameter sums each way); always true in a single process."""
        if not self.distributed:
            return True
        sums = torch.stack(
            [p.detach().double().sum() for module in modules for p in module.parameters()]
        )
        low, high = sums.clone(), sums.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        return torch.equal(low, high)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def start_runtime(requested_device: str, threads: int = 0, precision: str = "auto") -> Runtime:
    if threads > 0:
        torch.set_num_threads(threads)
    # Fixed crop sizes: let cuDNN pick the fastest convolution algorithms once.
    torch.backends.cudnn.benchmark = True
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Runtime(device=select_device(requested_device), precision=precision)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and requested_device in ("auto", "cuda"):
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Runtime(device=device, rank=rank, world_size=world_size, precision=precision)


def stop_runtime(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()
