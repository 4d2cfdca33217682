"""Multi-process training through torchrun and PyTorch's DistributedDataParallel.

`torchrun --nproc_per_node N adme train ...` sets RANK / WORLD_SIZE / LOCAL_RANK; without them
training is one process and every function here is a no-op, so there is one training loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Workers:
    """Where this process sits among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains (torchrun)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes the model folder and the database."""
        return self.rank == 0


def workers_from_env() -> Workers:
    """Read torchrun's environment; one process when it is absent."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Workers()
    return Workers(
        rank=int(os.environ["RANK"]),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def start(workers: Workers, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on the CPU); return this process's device."""
    if not workers.distributed:
        return device
    if device.type == "cuda":
        torch.cuda.set_device(workers.local_rank)
        device = torch.device("cuda", workers.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def stop(workers: Workers) -> None:
    """Leave the process group so the processes exit cleanly."""
    if workers.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(workers: Workers) -> None:
    """Wait until every process reaches this point."""
    if workers.distributed and dist.is_initialized():
        dist.barrier()


def global_weighted_mean(loss: torch.Tensor, local_weight: torch.Tensor) -> torch.Tensor:
    """Rescale this process's weighted-mean `loss` so DDP trains on the global batch's mean.

    Each process's loss is sum(w * l) / (its own sum of w), and DDP averages the N processes'
    gradients. Multiplying by N * (local sum of w) / (global sum of w), a constant (detached)
    gathered from every process, makes that average the gradient of
    sum(w * l) / sum(w) over the whole global batch: what one process computes. Without a
    process group (one process) the loss is returned unchanged. Every process must call this
    at the same step, as it does for every training batch.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return loss
    local = local_weight.detach().to(loss.dtype)
    total = local.clone()
    dist.all_reduce(total)
    return loss * (local * dist.get_world_size() / total)


def wrap(model: torch.nn.Module, workers: Workers, device: torch.device) -> torch.nn.Module:
    """The module to call in the training loop: DDP around `model` when distributed.

    Wrap after freezing: DDP registers gradient hooks only for parameters that require grad.
    """
    if not workers.distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)
