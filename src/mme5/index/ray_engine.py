"""The Ray Data engine: pending shards -> CPU tasks read and decode their items -> an actor pool of
Embedder replicas (one GPU each where the cluster has GPUs) -> the driver streams finished shards
to the ShardStore.

Exactly once: a shard is written (tmp + rename) only when every one of its rows has arrived, keyed
by row number, so a retried task (Ray Data restarts dead actors and retries their tasks) cannot
duplicate a row, and a killed driver loses only unfinished shards, which the rerun recomputes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .corpus import Corpus
from .engines import EmbedderSpec, EngineOptions, prepare_items
from .shards import Shard, ShardStore

log = logging.getLogger(__name__)
# passed to the actors as written; images travel decoded. Videos and PDF pages travel as paths and
# are decoded by the model's media step inside the actor (moving that into the CPU tasks is open).
ITEM_FIELDS = ("text", "instruction", "language", "video", "pdf", "page")
ACTOR_ROWS = 1024  # most rows per actor call (decoded images travel with them: bounded memory)


def _prepare(batch: Any, corpus: Corpus) -> Any:
    """CPU task: shard ranges -> one row per item, images read and decoded to RGB pixels here."""
    import pyarrow as pa

    from ..types import load_image

    out: dict[str, list] = {"row": [], "shard": [], "record": [], "fields": [], "pixels": [], "height": [], "width": []}
    for number, start, end in zip(*(batch.column(c).to_pylist() for c in ("shard", "start", "end"))):
        items, records = prepare_items(corpus, Shard(number, start, end))
        for row, (item, record) in enumerate(zip(items, records), start):
            pixels, size = b"", (0, 0)
            if item.has_image:
                image = np.asarray(load_image(item.image, f"{corpus.path}: item {row}"))
                pixels, size = image.tobytes(), image.shape[:2]
            out["row"].append(row)
            out["shard"].append(number)
            out["record"].append(json.dumps(record, ensure_ascii=False))
            fields = {k: getattr(item, k) for k in ITEM_FIELDS if getattr(item, k) is not None}
            out["fields"].append(json.dumps(fields, ensure_ascii=False, default=str))  # Path -> str
            out["pixels"].append(pixels)
            out["height"].append(size[0])
            out["width"].append(size[1])
    return pa.table({**{k: v for k, v in out.items() if k != "pixels"}, "pixels": pa.array(out["pixels"], pa.binary())})


class _EmbedActor:
    """One model replica; Ray Data restarts it (constructor again) if its process dies."""

    def __init__(self, spec: EmbedderSpec, device: str, fingerprint: str, threads: int, batch_size: int) -> None:
        import torch

        if device == "cpu":
            torch.set_num_threads(threads)
        self.embedder = spec.load(device)
        self.batch_size = batch_size
        if self.embedder.fingerprint != fingerprint:
            raise RuntimeError(
                f"actor loaded model fingerprint {self.embedder.fingerprint}, the build expects "
                f"{fingerprint}: every node must see the same model files"
            )

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa
        from PIL import Image

        from ..types import Item

        items = []
        for fields, pixels, h, w in zip(
            *(batch.column(c).to_pylist() for c in ("fields", "pixels", "height", "width"))
        ):
            image = Image.frombytes("RGB", (w, h), pixels) if h else None
            items.append(Item(image=image, **json.loads(fields)))
        vectors = np.ascontiguousarray(
            self.embedder.encode(items, batch_size=self.batch_size, show_progress=False), dtype=np.float32
        )
        flat = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        return pa.table(
            {
                "row": batch.column("row"),
                "shard": batch.column("shard"),
                "record": batch.column("record"),
                "vector": flat,
            }
        )


@dataclass
class RayEngine:
    """Ray Data over a local in-process Ray (default) or the cluster at --ray-address / RAY_ADDRESS."""

    spec: EmbedderSpec
    options: EngineOptions
    _started: bool = field(default=False, init=False)

    def _connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        address = self.options.ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a private local Ray: logical CPUs for the actors plus one for the prepare tasks
            cpus = self.options.num_cpus or self.options.actors + 1
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        self._started = True

    def _device(self) -> str:
        import ray

        self._connect()
        if self.spec.device:
            return self.spec.device
        return "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"

    def fingerprint(self) -> str:
        return self.spec.fingerprint(self._device())

    def run(self, corpus: Corpus, shards: list[Shard], store: ShardStore) -> None:
        import ray
        from tqdm.auto import tqdm

        try:
            if shards:
                self._stream(corpus, shards, store, tqdm)
        finally:
            if self._started:
                ray.shutdown()
                self._started = False

    def _stream(self, corpus: Corpus, shards: list[Shard], store: ShardStore, tqdm: Any) -> None:
        import ray

        device = self._device()
        gpu = device.startswith("cuda")
        actors = self.options.actors
        threads = max(1, (os.cpu_count() or 1) // actors)
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds: Any = ray.data.from_items(
            [{"shard": s.number, "start": s.start, "end": s.end} for s in shards], override_num_blocks=len(shards)
        )
        # half a CPU per prepare task: reading/decoding waits on disk, and resources unlike the actors'
        # keep Ray Data from fusing this stage into the actors (decoding then overlaps the model)
        ds = ds.map_batches(_prepare, batch_size=1, batch_format="pyarrow", fn_kwargs={"corpus": corpus}, num_cpus=0.5)
        # big actor calls: Embedder.encode buckets by length within a call, as the local engine does per shard
        rows_per_call = max(self.options.batch_size, min(shards[0].end - shards[0].start, ACTOR_ROWS))
        ds = ds.map_batches(
            _EmbedActor,
            batch_size=rows_per_call,
            batch_format="pyarrow",
            fn_constructor_args=(self.spec, device, self.fingerprint(), threads, self.options.batch_size),
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=1 if gpu else 0,
            num_cpus=0 if gpu else 1,
        )
        # Ray Data creates map actors with max_restarts=-1 and max_task_retries=-1: a dead replica is
        # restarted and its batches re-run; rows arriving twice are dropped below
        by_number = {s.number: s for s in shards}
        pending: dict[int, dict[int, tuple[np.ndarray, str]]] = {}
        written: set[int] = set()
        bar = tqdm(total=len(shards), desc="embed (ray)", unit="shard", disable=len(shards) < 2)
        block: Any
        for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            vectors = block.column("vector").combine_chunks()
            flat = vectors.values.to_numpy(zero_copy_only=False).reshape(-1, vectors.type.list_size)
            for i, (row, number, record) in enumerate(
                zip(*(block.column(c).to_pylist() for c in ("row", "shard", "record")))
            ):
                if number in written:
                    continue  # a late repeat from a retried task
                rows = pending.setdefault(number, {})
                rows.setdefault(row, (flat[i], record))  # a retried task's repeat of a row is dropped
                shard = by_number[number]
                if len(rows) == shard.end - shard.start:
                    order = sorted(rows)
                    store.write(
                        shard,
                        np.array(order),
                        np.stack([rows[r][0] for r in order]),
                        [json.loads(rows[r][1]) for r in order],
                    )
                    del pending[number]
                    written.add(number)
                    bar.update(1)
        bar.close()
        if pending:
            raise RuntimeError(f"the Ray pipeline ended with {len(pending)} shard(s) incomplete: {sorted(pending)[:5]}")
