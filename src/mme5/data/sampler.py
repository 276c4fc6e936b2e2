"""Batch composition: seeded shuffle, optional same-source blocks (VLM2Vec's interleaving), and no
duplicate positive inside one in-batch pool (a repeated positive is a false negative).

The plan is made for the GLOBAL pool (per-device batch x world size), then each pool is cut into
one slice per rank, so gathered in-batch negatives come from one deduplicated pool.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from ..config import ConfigError


@dataclass(frozen=True)
class BatchPlan:
    """Micro-batches in the order the data loader must serve them.

    `micro_batches[(p * world_size) + r]` is rank r's slice of pool p; accelerate's batch sharding
    hands element `k * world_size + r` to rank r, so each rank sees its slices in pool order.
    """

    micro_batches: list[list[int]]
    pools: int
    pools_per_epoch: list[int]
    dropped: int
    """Examples left over at the end of an epoch (not enough for a full, duplicate-free pool)."""


def _epoch_order(sources: Sequence[str], rng: random.Random, block: int) -> list[int]:
    order = list(range(len(sources)))
    rng.shuffle(order)
    if block <= 0:
        return order
    by_source: dict[str, list[int]] = defaultdict(list)
    for i in order:
        by_source[sources[i]].append(i)
    blocks = [ids[s : s + block] for ids in by_source.values() for s in range(0, len(ids), block)]
    rng.shuffle(blocks)
    return [i for b in blocks for i in b]


def _pools(order: list[int], keys: Sequence[Hashable] | None, size: int) -> tuple[list[list[int]], int]:
    """Greedy packing: an example whose positive is already in the pool waits for a later pool."""
    if keys is None:
        full = len(order) // size * size
        return [order[s : s + size] for s in range(0, full, size)], len(order) - full
    stream, pending, pools = iter(order), deque[int](), list[list[int]]()
    while True:
        pool, used, waiting = list[int](), set[Hashable](), deque[int]()
        while pending and len(pool) < size:
            i = pending.popleft()
            (waiting if keys[i] in used else pool).append(i)
            used.add(keys[i])
        pending = waiting + pending
        for i in stream:
            if keys[i] in used:
                pending.append(i)
                continue
            pool.append(i)
            used.add(keys[i])
            if len(pool) == size:
                break
        if len(pool) < size:
            return pools, len(pool) + len(pending)
        pools.append(pool)


def plan_batches(
    sources: Sequence[str],
    positive_keys: Sequence[Hashable] | None,
    *,
    per_device_batch_size: int,
    world_size: int = 1,
    seed: int = 0,
    epochs: float = 1.0,
    min_pools: int = 0,
    same_source_block: int = 0,
    source_weights: dict[str, float] | None = None,
) -> BatchPlan:
    """Plan `epochs` passes (at least `min_pools` pools) over examples with the given sources.

    `positive_keys=None` turns duplicate avoidance off. A fractional last epoch is cut short.
    """
    if per_device_batch_size < 1 or world_size < 1:
        raise ValueError("per_device_batch_size and world_size must be >= 1")
    size = per_device_batch_size * world_size
    if len(sources) < size:
        raise ConfigError(
            f"only {len(sources)} examples: fewer than one global batch of {size} "
            f"({per_device_batch_size} per device x {world_size} devices)"
        )
    micro: list[list[int]] = []
    per_epoch: list[int] = []
    dropped, epoch = 0, 0
    while epoch < math.ceil(epochs) or len(micro) < min_pools * world_size:
        rng = random.Random(f"{seed}:epoch{epoch}")
        if source_weights:  # VLM2Vec-V2: a weighted draw of the source for every block
            from .sources_v2 import weighted_block_order

            order = weighted_block_order(sources, source_weights, max(same_source_block, 1), rng)
        else:
            order = _epoch_order(sources, rng, same_source_block)
        pools, left = _pools(order, positive_keys, size)
        if not pools:
            raise ConfigError(f"no global batch of {size} examples without a repeated positive can be formed")
        if epoch + 1 > epochs and min_pools == 0:  # the fractional part of the last epoch
            pools = pools[: max(1, int(len(pools) * (epochs - epoch)))]
        per_epoch.append(len(pools))
        dropped += left
        for pool in pools:
            micro.extend(pool[r * per_device_batch_size : (r + 1) * per_device_batch_size] for r in range(world_size))
        epoch += 1
    return BatchPlan(micro_batches=micro, pools=len(micro) // world_size, pools_per_epoch=per_epoch, dropped=dropped)
