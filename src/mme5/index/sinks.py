"""Index sinks' shared parts: the options of a build, the written shards as one vector stream, the
held-out recall check, and the faiss sink (the LanceDB sink is `lance.py`).

Both sinks measure recall@k the same way: held-out corpus vectors (never in the training sample)
as queries, exact search over every shard as the truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .ann import build_faiss, plan_index, train_size, tune_faiss
from .shards import Shard, ShardStore, iter_vectors, shard_size

INDEX_FILE = "index.faiss"


@dataclass(frozen=True)
class IndexOptions:
    """Which index to build and how hard to check it (`--index --memory-budget --sink ...`)."""

    kind: str = "auto"
    memory_budget: int = 4 * 2**30
    sink: str = "faiss"
    target_recall: float = 0.95
    queries: int = 1000
    k: int = 10
    seed: int = 0
    dim: int | None = None
    """Compact indexes: the Matryoshka prefix length searched (None = the full vector)."""
    quantize: str = "none"
    """none: a float index; binary / int8: a compact index with a rescoring stage (index/compact.py)."""
    rescore: str = "float"
    """Compact indexes: re-rank the shortlist with float32 or int8 vectors on disk, or not (none)."""
    rescore_factor: int | None = None
    """Shortlist = k x this; None: the smallest reaching target_recall."""
    model_dirs: tuple[str, ...] = ()
    """Where the model's train_config.yaml may be (adapter, model): `dim` must be a trained prefix..."""
    force_dim: bool = False
    """... unless this is set."""


@dataclass
class Vectors:
    """The written shards as one stream of vectors in corpus order, with random access by sampling.
    Positions count the vectors stored (a shard written with `--skip-bad` may hold fewer than its
    range), so they are the index's ids and the records' order."""

    store: ShardStore
    shards: list[Shard]
    dim: int

    def __post_init__(self) -> None:
        sizes = [shard_size(self.store.path(s)) for s in self.shards]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def count(self) -> int:
        return int(self.starts[-1])

    def batches(self):
        return iter_vectors(self.store, self.shards)

    def rows(self, wanted: np.ndarray) -> np.ndarray:
        """Vectors at the given (sorted) positions, read shard by shard."""
        out = np.empty((len(wanted), self.dim), np.float32)
        for start, end, vectors in zip(self.starts, self.starts[1:], self.batches()):
            lo, hi = np.searchsorted(wanted, [start, end])
            out[lo:hi] = vectors[wanted[lo:hi] - start]
        return out

    def exact_top_k(self, queries: np.ndarray, k: int) -> np.ndarray:
        """(q, k) positions of the true top-k by inner product, one shard in memory at a time."""
        best_ids = np.full((len(queries), 0), -1, np.int64)
        best_scores = np.empty((len(queries), 0), np.float32)
        for start, end, vectors in zip(self.starts, self.starts[1:], self.batches()):
            scores = np.concatenate([best_scores, queries @ vectors.T], axis=1)
            ids = np.concatenate(
                [best_ids, np.broadcast_to(np.arange(start, end), (len(queries), len(vectors)))], axis=1
            )
            keep = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            best_scores, best_ids = np.take_along_axis(scores, keep, 1), np.take_along_axis(ids, keep, 1)
        return best_ids


def held_out(n: int, opts: IndexOptions, train: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted query rows (a tenth of the corpus, at most opts.queries; they depend only on n and the
    seed) and up to `train` sorted training rows drawn from the others."""
    nq = min(opts.queries, max(1, n // 10))
    queries = np.random.default_rng(opts.seed).choice(n, size=nq, replace=False)
    extra = np.random.default_rng(opts.seed + 1).choice(n, size=min(n, train + nq), replace=False)
    return np.sort(queries), np.sort(extra[~np.isin(extra, queries)][:train])


def recall_summary(curve: list[dict], query_rows: np.ndarray, opts: IndexOptions) -> dict[str, Any]:
    """The index.json fields of the recall check: the chosen setting's recall@k and the whole curve."""
    # tuning stops at the first setting reaching the target: then the last row is the chosen one
    chosen = curve[-1] if curve[-1]["recall"] >= opts.target_recall else max(curve, key=lambda r: r["recall"])
    return {
        f"recall_at_{opts.k}": chosen["recall"],
        "recall_target": opts.target_recall,
        "recall_queries": int(len(query_rows)),
        "recall_curve": curve,
        "recall_note": "held-out corpus vectors as queries (not in the training sample), truth = exact search",
    }


def faiss_sink(vectors: Vectors, opts: IndexOptions, out: Path) -> dict[str, Any]:
    """Plan, train on a sample, add in bounded batches, tune the search knob, write index.faiss."""
    import faiss

    started = time.perf_counter()
    plan = plan_index(opts.kind, vectors.count, vectors.dim, opts.memory_budget)
    query_rows, train_rows = held_out(vectors.count, opts, train_size(plan))
    queries = vectors.rows(query_rows)
    index = build_faiss(plan, vectors.dim, vectors.batches, vectors.rows(train_rows))
    built = time.perf_counter() - started
    truth = vectors.exact_top_k(queries, min(opts.k, vectors.count))
    limit = plan.params.get("nlist", 1 << 30)
    chosen, curve = tune_faiss(index, plan.kind, limit, queries, truth, opts.target_recall)
    tmp = out / (INDEX_FILE + ".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(out / INDEX_FILE)
    return {
        "sink": "faiss",
        **plan.to_json(),
        "bytes": (out / INDEX_FILE).stat().st_size,
        "search": chosen,
        **recall_summary(curve, query_rows, opts),
        "build_seconds": round(built, 3),
        "metric": "cosine (inner product of L2-normalised vectors)",
    }
