"""Sharding the encode step across `torchrun` ranks (torch.distributed, when initialised).

Each rank encodes one contiguous slice of the items; the slices are all-gathered, so every rank
ends with the same (n, dim) matrix. Rank 0 makes the decisions that must agree (what is cached,
what is done) and broadcasts them; only rank 0 writes files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank_and_world() -> tuple[int, int]:
    dist = _dist()
    return (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)


def is_main() -> bool:
    return rank_and_world()[0] == 0


def broadcast(value: T) -> T:
    """Rank 0's `value` on every rank (a no-op without torch.distributed)."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    dist = _dist()
    if dist is not None and dist.get_world_size() > 1:
        dist.barrier()


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous slice; slices have equal padded size ceil(n / world)."""
    per = math.ceil(n / world) if n else 0
    return min(n, rank * per), min(n, (rank + 1) * per)


def sharded_encode(encode: Callable[[Sequence[Any]], np.ndarray], items: Sequence[Any], dim: int) -> np.ndarray:
    """encode(items) computed in slices across ranks -> (n, dim) float32 on every rank, in order."""
    rank, world = rank_and_world()
    if world == 1:
        return encode(items)
    import torch

    dist = _dist()
    start, stop = shard_bounds(len(items), rank, world)
    per = math.ceil(len(items) / world)
    local = np.zeros((per, dim), dtype=np.float32)
    if stop > start:
        local[: stop - start] = encode(items[start:stop])
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.from_numpy(local).to(device)
    gathered = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(gathered, tensor)
    return torch.cat(gathered).cpu().numpy()[: len(items)]


def init_from_env() -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); True if distributed.

    Uses NCCL on GPUs (one per local rank) and gloo on CPU.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or _dist() is not None:
        return _dist() is not None
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True
