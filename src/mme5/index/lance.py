"""LanceDB as the index sink: an embedded table (row, id, vector, item, meta) under `<out>/lance`
with an ANN index of the planned type, searched with the same knobs as faiss (nprobe, ef_search).

The same table can live on object storage (a `s3://` URI for lancedb.connect); nothing here
assumes a local disk beyond the default path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .ann import plan_index, tune
from .shards import read_shard
from .sinks import IndexOptions, Vectors, held_out, recall_summary

TABLE, FOLDER = "items", "lance"
REFINE_FACTOR = 4  # re-rank 4*k candidates with the stored full vectors (exact scores)
LANCE_TYPES = {"ivf-flat": "IVF_FLAT", "ivf-pq": "IVF_PQ", "hnsw": "IVF_HNSW_SQ"}  # flat: no index, exact scan


def _connect(out: Path) -> Any:
    os.environ.setdefault("LANCE_LOG", "error")  # lance logs deprecation notes per query at WARN
    import lancedb

    return lancedb.connect(str(out / FOLDER))


def _index_config(kind: str, params: dict[str, int]) -> Any:
    """The lancedb index config for a planned type (same partitions, PQ code size and HNSW M)."""
    from lancedb.index import HnswSq, IvfFlat, IvfPq

    lists = params.get("nlist", 1)
    configs = {
        "ivf-flat": lambda: IvfFlat(distance_type="dot", num_partitions=lists),
        "ivf-pq": lambda: IvfPq(
            distance_type="dot", num_partitions=lists, num_sub_vectors=params.get("pq_m"), num_bits=8
        ),
        "hnsw": lambda: HnswSq(distance_type="dot", num_partitions=lists, m=params.get("hnsw_m", 20)),
    }
    return configs[kind]()


def _batches(vectors: Vectors):
    """The shards as Arrow record batches, in corpus order (never the whole corpus in memory)."""
    for shard in vectors.shards:
        yield from read_shard(vectors.store.path(shard)).to_batches()


def lance_sink(vectors: Vectors, opts: IndexOptions, out: Path) -> dict[str, Any]:
    """Write the table, build the planned ANN index, tune nprobe / ef_search like the faiss sink."""
    import pyarrow as pa

    started = time.perf_counter()
    plan = plan_index(opts.kind, vectors.count, vectors.dim, opts.memory_budget)
    schema = read_shard(vectors.store.path(vectors.shards[0])).schema
    table = _connect(out).create_table(
        TABLE, data=pa.RecordBatchReader.from_batches(schema, _batches(vectors)), mode="overwrite"
    )
    params = dict(plan.params)
    if plan.kind == "ivf-pq":  # lance trains 8-bit codes from its own sample (the refine step needs them)
        params.update(pq_bits=8, pq_bytes=params["pq_m"])
    if plan.kind in LANCE_TYPES:
        table.create_index("vector", config=_index_config(plan.kind, params))  # (column, config): the current API
    built = time.perf_counter() - started
    query_rows, _ = held_out(vectors.count, opts, 0)
    queries = vectors.rows(query_rows)
    truth = vectors.exact_top_k(queries, min(opts.k, vectors.count))
    knob = plan.knob
    searcher = LanceSearcher(out, {"type": plan.kind, "params": params})
    limit = params.get("nlist", 1 << 30) if knob == "nprobe" else 1 << 30
    value, curve = tune(lambda q, k, v: searcher.search(q, k, v)[1], knob, limit, queries, truth, opts.target_recall)
    size = sum(f.stat().st_size for f in (out / FOLDER).rglob("*") if f.is_file())
    return {
        "sink": "lance",
        **plan.to_json(),
        "params": params,
        "lance_index": LANCE_TYPES.get(plan.kind, "none (exact scan)"),
        "refine_factor": REFINE_FACTOR,
        "bytes": size,
        "search": {knob: value} if knob else {},
        **recall_summary(curve, query_rows, opts),
        "build_seconds": round(built, 3),
        "metric": "cosine (dot product of L2-normalised vectors)",
    }


class LanceSearcher:
    """Search the `items` table; the score is the dot product (lance's dot distance is 1 - dot)."""

    def __init__(self, folder: Path, info: dict[str, Any]) -> None:
        self.table = _connect(Path(folder)).open_table(TABLE)
        self.kind = info.get("type", "flat")
        self.nlist = int(info.get("params", {}).get("nlist", 1))
        self.size = self.table.count_rows()
        self.dim = self.table.schema.field("vector").type.list_size

    def search(self, queries: np.ndarray, k: int, knob: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(q, dim) -> (q, k) scores and row ids, best first (-1 where fewer than k were found)."""
        query = self.table.search(np.asarray(queries, np.float32)).distance_type("dot").limit(k).select(["row"])
        if self.kind in LANCE_TYPES:
            query = query.refine_factor(REFINE_FACTOR)
            if self.kind == "hnsw":
                query = query.nprobes(self.nlist)
                if knob is not None:
                    query = query.ef(int(knob))
            elif knob is not None:
                query = query.nprobes(int(knob))
        result = query.to_arrow()
        scores, rows = np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        which = (
            result.column("query_index").to_numpy()
            if "query_index" in result.column_names
            else np.zeros(result.num_rows, int)
        )
        filled = np.zeros(len(queries), int)
        for q, row, distance in zip(which, result.column("row").to_numpy(), result.column("_distance").to_numpy()):
            if filled[q] < k:
                rows[q, filled[q]], scores[q, filled[q]] = row, 1.0 - distance
                filled[q] += 1
        return scores, rows
