"""Batch plans: seeded, duplicate-free pools, rank slicing, same-source blocks, epochs."""
from __future__ import annotations

from collections import Counter

import pytest

from mme5.data.sampler import plan_batches


def pools_of(plan, world):
    mb = plan.micro_batches
    return [sum(mb[p * world : (p + 1) * world], []) for p in range(plan.pools)]


def test_pools_hold_no_repeated_positive_and_use_each_example_once():
    # classification-like data: 40 examples, only 5 distinct labels (positives)
    sources = ["cls"] * 40 + ["ret"] * 60
    keys = [f"label{i % 5}" for i in range(40)] + [f"doc{i}" for i in range(60)]
    plan = plan_batches(sources, keys, per_device_batch_size=4, world_size=2, seed=0)
    pools = pools_of(plan, 2)
    assert all(len(p) == 8 for p in pools)
    for p in pools:
        assert len({keys[i] for i in p}) == len(p)
    used = [i for p in pools for i in p]
    assert len(used) == len(set(used)) and len(used) + plan.dropped == 100
    unplanned = plan_batches(sources, None, per_device_batch_size=4, world_size=2, seed=0)
    assert any(len({keys[i] for i in p}) < 8 for p in pools_of(unplanned, 2))  # the check is not vacuous


def test_rank_slices_follow_the_loader_sharding():
    plan = plan_batches(["s"] * 24, None, per_device_batch_size=3, world_size=2, seed=5)
    assert len(plan.micro_batches) == 2 * plan.pools == 8
    # element k * world + r is rank r's slice of pool k (accelerate's batch-sampler sharding)
    for k in range(plan.pools):
        assert all(len(plan.micro_batches[k * 2 + r]) == 3 for r in range(2))


def test_seeded_and_reshuffled_per_epoch():
    sources = ["s"] * 20
    a = plan_batches(sources, None, per_device_batch_size=5, seed=1, epochs=2)
    assert a == plan_batches(sources, None, per_device_batch_size=5, seed=1, epochs=2)
    assert a != plan_batches(sources, None, per_device_batch_size=5, seed=2, epochs=2)
    assert a.pools_per_epoch == [4, 4] and a.micro_batches[:4] != a.micro_batches[4:]
    half = plan_batches(sources, None, per_device_batch_size=5, seed=1, epochs=1.5)
    assert half.pools_per_epoch == [4, 2]
    more = plan_batches(sources, None, per_device_batch_size=5, seed=1, min_pools=10)
    assert more.pools >= 10


def test_same_source_blocks():
    sources = [s for s in "abcd" for _ in range(64)]
    plan = plan_batches(sources, None, per_device_batch_size=16, seed=0, same_source_block=16)
    assert all(len({sources[i] for i in b}) == 1 for b in plan.micro_batches)
    mixed = plan_batches(sources, None, per_device_batch_size=16, seed=0)
    assert sum(len({sources[i] for i in b}) > 1 for b in mixed.micro_batches) > 10


def test_impossible_plans_say_why():
    with pytest.raises(ValueError, match="fewer than one global batch of 8"):
        plan_batches(["s"] * 5, None, per_device_batch_size=4, world_size=2)
    with pytest.raises(ValueError, match="without a repeated positive"):
        plan_batches(["s"] * 10, ["same"] * 10, per_device_batch_size=2)


def test_dedup_keeps_most_of_a_skewed_mix():
    """Two-label data (HatefulMemes-like) mixed with unique positives: pools take two of it each."""
    sources = ["hm"] * 50 + ["ret"] * 350
    keys = ["Yes" if i % 2 else "No" for i in range(50)] + list(range(350))
    plan = plan_batches(sources, keys, per_device_batch_size=8, seed=0, same_source_block=8)
    pools = pools_of(plan, 1)
    assert max(Counter(sources[i] for i in p)["hm"] for p in pools) == 2
    assert Counter(sources[i] for p in pools for i in p)["hm"] >= 40  # deferred, not lost
