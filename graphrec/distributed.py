"""The few ``torch.distributed`` helpers the trainer needs for data parallelism.

A run launched by ``torchrun --nproc_per_node=N`` has ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its environment;
:func:`init_from_env` starts the process group from them (NCCL on CUDA, gloo
on CPU) unless the caller already did. Without it every helper describes a
single process (rank 0 of 1), so the trainer runs one code path.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "init_from_env",
    "is_distributed",
    "rank",
    "world_size",
    "local_rank",
    "barrier",
    "broadcast_object",
    "all_reduce_sum",
    "shard",
]


def is_distributed() -> bool:
    """Whether a process group of more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_from_env(backend: Optional[str] = None) -> bool:
    """Start the default process group when ``WORLD_SIZE > 1`` and none runs yet.

    Returns :func:`is_distributed`. ``backend`` defaults to ``nccl`` when CUDA
    is available, else ``gloo``.
    """
    if dist.is_available() and not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            # NCCL needs each process on its own device before the group starts
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    return is_distributed()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """This process's index on its machine (``LOCAL_RANK`` from torchrun, else the global rank)."""
    return int(os.environ.get("LOCAL_RANK", rank()))


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_object(value: Any, source: int = 0) -> Any:
    """``value`` as held by rank ``source``, on every rank (picklable objects)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=source)
    return box[0]


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over all ranks in place (identity for one process); returns it."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def shard(start: int, end: int, index: int, count: int) -> Tuple[int, int]:
    """The ``index``-th of ``count`` contiguous, nearly equal parts of ``range(start, end)``.

    Part sizes differ by at most one, larger parts first (as ``torch.tensor_split``).
    """
    size, extra = divmod(end - start, count)
    low = start + index * size + min(index, extra)
    return low, low + size + (1 if index < extra else 0)
