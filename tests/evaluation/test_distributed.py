"""Sharded encoding across two real torch.distributed (gloo) ranks: each rank runs the model on
its own slice only, and the gathered vectors equal a single-process encode."""
from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest

from mme5.evaluation.distributed import shard_bounds


def test_shard_bounds_cover_every_item_once():
    for n in (0, 1, 5, 8, 11):
        for world in (1, 2, 3, 4):
            slices = [shard_bounds(n, r, world) for r in range(world)]
            covered = [i for a, b in slices for i in range(a, b)]
            assert covered == list(range(n)), (n, world)


def _rank_main(rank: int, world: int, port: int, model_dir: str, data_dir: str, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from mme5 import Embedder
        from mme5.evaluation.loaders import DataSource
        from mme5.evaluation.runner import EvalConfig, Runner
        from mme5.evaluation.tasks import resolve_tasks

        embedder = Embedder.from_pretrained(model_dir, device="cpu")
        rows = {"n": 0}
        forward = embedder.forward

        def counting(prepared):
            rows["n"] += prepared.size
            return forward(prepared)

        embedder.forward = counting
        config = EvalConfig(data=DataSource(data_dir), cache_dir=os.path.join(out_dir, "cache"))
        Runner(embedder, config, os.path.join(out_dir, "run")).run(resolve_tasks(["MSCOCO_t2i", "RefCOCO"]))
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(rows, fh)
    finally:
        dist.destroy_process_group()
    # gloo's threads sometimes abort the interpreter's teardown ("terminate called without an active
    # exception", SIGABRT) after all outputs are written: leave without it, as the DeepSpeed launcher does
    os._exit(0)


@pytest.mark.slow
def test_two_ranks_split_the_work_and_gather_the_same_vectors(tiny_dirs, tiny_embedder, mmeb_dir, tmp_path):
    import torch.multiprocessing as mp

    from mme5.evaluation.cache import EmbeddingCache, item_key
    from mme5.evaluation.loaders import DataSource, load_task
    from mme5.evaluation.tasks import get_task

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_main, args=(2, port, str(tiny_dirs("mllama")), str(mmeb_dir), str(tmp_path)), nprocs=2, join=True)

    embedder = tiny_embedder("mllama")
    datasets = [load_task(get_task(t), DataSource(str(mmeb_dir))) for t in ("MSCOCO_t2i", "RefCOCO")]
    items = list({item_key(i): i for d in datasets for i in d.items}.values())
    counts = [json.loads((tmp_path / f"rank{r}.json").read_text())["n"] for r in range(2)]
    first_task = len(datasets[0].items)
    later = len(items) - first_task  # RefCOCO only adds what MSCOCO_t2i did not already encode

    def size(n: int, rank: int) -> int:
        start, stop = shard_bounds(n, rank, 2)
        return stop - start

    assert counts == [size(first_task, r) + size(later, r) for r in range(2)]
    assert min(counts) > 0 and sum(counts) == len(items)

    found, cached = EmbeddingCache(tmp_path / "cache", embedder.fingerprint).get([item_key(i) for i in items])
    assert found.all()
    np.testing.assert_allclose(cached, embedder.encode(items), atol=1e-5)
    result = json.loads((tmp_path / "run" / "tasks" / "RefCOCO.json").read_text())
    assert result["encoding"]["cache_hits"] == len(datasets[1].items) - later
