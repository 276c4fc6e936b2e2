"""The Ray Data engine: pending shards -> CPU tasks read their items, decode media and run the
processor (format, tokenize, resize: `Preprocessor.prepare`) in the batches the single-process engine
forms -> an actor pool of model replicas (one GPU each where the cluster has GPUs) runs only the
model -> the driver streams finished shards to the ShardStore.

Exactly once: a shard is written (tmp + rename) only when every one of its rows has arrived, keyed
by row number, so a retried task (Ray Data restarts dead actors and retries their tasks) cannot
duplicate a row, and a killed driver loses only unfinished shards, which the rerun recomputes.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .corpus import Corpus
from .engines import EmbedderSpec, EngineOptions, item_where, prepare_items
from .shards import Shard, ShardStore

log = logging.getLogger(__name__)
ACTOR_ROWS = 1024  # about this many items per actor call (bounded memory, few calls)
# a prepare task's output row: one model batch of a shard (its item rows, the count of cut texts, the
# pickled `Prepared`), or one row holding the input error that stopped the shard; records stay in the
# corpus file: the driver reads a shard's records when it writes the shard
PREPARED = ("shard", "rows", "truncated", "prepared", "error")


@functools.lru_cache(maxsize=2)
def _preparer(spec: EmbedderSpec) -> Any:
    """The processor side of the model, loaded once per worker process (Ray reuses task workers)."""
    return spec.load_preparer()


def _prepare(batch: Any, corpus: Corpus, spec: EmbedderSpec, batch_size: int) -> Any:
    """CPU task: shard ranges -> one row per model batch (the local engine's batches for the shard):
    its item rows and the processor's tensors (pickled `Prepared`)."""
    import pyarrow as pa

    from ..config import ConfigError
    from ..types import InputError

    preparer = _preparer(spec)
    out: list[tuple] = []  # rows of PREPARED
    for number, start, end in zip(*(batch.column(c).to_pylist() for c in ("shard", "start", "end"))):
        try:
            items, records = prepare_items(corpus, Shard(number, start, end))
            where = [item_where(corpus, start + k, r) for k, r in enumerate(records)]
            formatted = preparer.format(items)
            for idx in preparer.plan(items, batch_size, formatted=formatted):
                prepared = preparer.prepare(
                    [items[i] for i in idx], [where[i] for i in idx], formatted=[formatted[i] for i in idx]
                )
                rows = [start + i for i in idx]
                out.append((number, rows, prepared.truncated, pickle.dumps(prepared, protocol=5), b""))
        except (InputError, ConfigError) as exc:  # bad input travels as data: Ray would wrap it beyond recognition
            out.append((number, [], 0, b"", pickle.dumps(exc)))
    columns = dict(zip(PREPARED, map(list, zip(*out))))
    return pa.table({k: pa.array(v, pa.binary()) if k in ("prepared", "error") else v for k, v in columns.items()})


class _EmbedActor:
    """One model replica; Ray Data restarts it (constructor again) if its process dies."""

    def __init__(self, spec: EmbedderSpec, device: str, fingerprint: str, threads: int) -> None:
        import torch

        if device == "cpu":
            torch.set_num_threads(threads)
        self.embedder: Any = spec.load(device)
        if self.embedder.fingerprint != fingerprint:
            raise RuntimeError(
                f"actor loaded model fingerprint {self.embedder.fingerprint}, the build expects "
                f"{fingerprint}: every node must see the same model files"
            )

    def __call__(self, batch: Any) -> Any:
        """Prepared model batches -> one row per item: row, shard, vector, truncated (the
        batch's count of cut texts, on its first row)."""
        import pyarrow as pa
        import torch

        out: dict[str, list] = {"row": [], "shard": [], "truncated": [], "error": []}
        vectors = []
        for number, rows, truncated, blob, error in zip(*(batch.column(c).to_pylist() for c in PREPARED)):
            if error:  # a shard the prepare task refused: one row carries the error to the driver
                rows, truncated = [-1], 0
                vectors.append(np.zeros((1, self.embedder.dim), np.float32))
            else:
                with torch.inference_mode():
                    vectors.append(self.embedder.forward(pickle.loads(blob)).cpu().numpy())
            out["row"] += rows
            out["shard"] += [number] * len(rows)
            out["truncated"] += [truncated] + [0] * (len(rows) - 1)
            out["error"] += [error] + [b""] * (len(rows) - 1)
        stacked = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
        flat = pa.FixedSizeListArray.from_arrays(pa.array(stacked.reshape(-1)), stacked.shape[1])
        errors = pa.array(out.pop("error"), pa.binary())
        return pa.table({**out, "error": errors, "vector": flat})


def _quiet_ray() -> None:
    """Ray's and Ray Data's own Python loggers print INFO and WARNING lines (execution plans, token
    auth notices, disabled progress bars) through their own handlers: errors only, unless the root
    logger is at DEBUG (`mme5 --verbose`)."""
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)


@dataclass
class RayEngine:
    """Ray Data over a local in-process Ray (default) or the cluster at --ray-address / RAY_ADDRESS."""

    spec: EmbedderSpec
    options: EngineOptions
    _started: bool = field(default=False, init=False)
    _fingerprint: str | None = field(default=None, init=False)

    def _connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        _quiet_ray()
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
        if self._fingerprint is None:  # hashes the model files: once per build, not per use
            self._fingerprint = self.spec.fingerprint(self._device())
        return self._fingerprint

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
        import ray.data

        _quiet_ray()  # ray.data sets up its loggers when first imported
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds: Any = ray.data.from_items(
            [{"shard": s.number, "start": s.start, "end": s.end} for s in shards], override_num_blocks=len(shards)
        )
        # most of a CPU per prepare task (tokenizing and decoding are CPU work), but not the replica's
        # one CPU: equal resources would let Ray Data fuse the stages, and each replica would then
        # prepare its own batches instead of overlapping that with the model
        ds = ds.map_batches(
            _prepare,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"corpus": corpus, "spec": self.spec, "batch_size": self.options.batch_size},
            num_cpus=0.75,
        )
        ds = ds.map_batches(
            _EmbedActor,
            batch_size=max(1, ACTOR_ROWS // self.options.batch_size),  # model batches per call
            batch_format="pyarrow",
            fn_constructor_args=(self.spec, device, self.fingerprint(), threads),
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=1 if gpu else 0,
            num_cpus=0 if gpu else 1,
        )
        # Ray Data creates map actors with max_restarts=-1 and max_task_retries=-1: a dead replica is
        # restarted and its batches re-run; rows arriving twice are dropped below
        by_number = {s.number: s for s in shards}
        pending: dict[int, dict[int, tuple[np.ndarray, int]]] = {}
        written: set[int] = set()
        truncated = 0
        bar = tqdm(total=len(shards), desc="embed (ray)", unit="shard", disable=len(shards) < 2)
        for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            truncated += self._collect(block, corpus, by_number, pending, written, store, bar)
        bar.close()
        if pending:
            raise RuntimeError(f"the Ray pipeline ended with {len(pending)} shard(s) incomplete: {sorted(pending)[:5]}")
        if truncated:
            log.warning(
                "%d texts were longer than max_length=%d tokens and were truncated",
                truncated,
                self.spec.resolved_profile()[1],
            )

    @staticmethod
    def _collect(
        block: Any,
        corpus: Corpus,
        by_number: dict[int, Shard],
        pending: dict[int, dict[int, tuple[np.ndarray, int]]],
        written: set[int],
        store: ShardStore,
        bar: Any,
    ) -> int:
        """File one output block's rows under their shards; write each shard whose rows are all in.
        Records are read from the corpus here, when a shard is written (they never travel through the
        pipeline). Returns the truncated-text count of the shards written. Raises a prepare task's input error
        (a missing image, a broken row) as the local engine would: the shards written so far stay."""
        for error in block.column("error").to_pylist():
            if error:
                raise pickle.loads(error)
        truncated = 0
        vectors = block.column("vector").combine_chunks()
        flat = vectors.values.to_numpy(zero_copy_only=False).reshape(-1, vectors.type.list_size)
        columns = ("row", "shard", "truncated")
        for i, (row, number, cut) in enumerate(zip(*(block.column(c).to_pylist() for c in columns))):
            if number in written:
                continue  # a late repeat from a retried task
            rows = pending.setdefault(number, {})
            rows.setdefault(row, (flat[i], cut))  # a retried task's repeat of a row is dropped
            shard = by_number[number]
            if len(rows) == shard.end - shard.start:
                order = sorted(rows)
                store.write(
                    shard,
                    np.array(order),
                    np.stack([rows[r][0] for r in order]),
                    corpus.records(shard.start, shard.end),
                )
                truncated += sum(rows[r][1] for r in order)
                del pending[number]
                written.add(number)
                bar.update(1)
        return truncated
