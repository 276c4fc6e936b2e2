"""`build_index`: the one function behind `mme5 index build` for every corpus size. Corpus ->
vector shards (local or Ray engine, resumable) -> an index (faiss type or LanceDB table) whose
recall@10 against exact search is measured on held-out corpus queries and written to index.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigError
from ..provenance import provenance, write_json
from ..types import Encoder
from .ann import build_faiss, plan_index, train_size, tune_faiss
from .corpus import open_corpus
from .engines import EmbedderSpec, EngineOptions, make_engine
from .shards import Shard, ShardStore, iter_vectors, plan_shards

INDEX_FILE, INFO_FILE = "index.faiss", "index.json"


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


@dataclass
class Vectors:
    """The written shards as one corpus-ordered stream of vectors, with random access by sampling."""

    store: ShardStore
    shards: list[Shard]
    dim: int

    @property
    def count(self) -> int:
        return self.shards[-1].end if self.shards else 0

    def batches(self):
        return iter_vectors(self.store, self.shards)

    def rows(self, wanted: np.ndarray) -> np.ndarray:
        """Vectors of the given (sorted) row numbers, read shard by shard."""
        out = np.empty((len(wanted), self.dim), np.float32)
        for shard, vectors in zip(self.shards, self.batches()):
            lo, hi = np.searchsorted(wanted, [shard.start, shard.end])
            out[lo:hi] = vectors[wanted[lo:hi] - shard.start]
        return out

    def exact_top_k(self, queries: np.ndarray, k: int) -> np.ndarray:
        """(q, k) row ids of the true top-k by inner product, one shard in memory at a time."""
        best_ids = np.full((len(queries), 0), -1, np.int64)
        best_scores = np.empty((len(queries), 0), np.float32)
        for shard, vectors in zip(self.shards, self.batches()):
            scores = np.concatenate([best_scores, queries @ vectors.T], axis=1)
            ids = np.concatenate(
                [best_ids, np.broadcast_to(np.arange(shard.start, shard.end), (len(queries), len(vectors)))], axis=1
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
        **_recall(curve, query_rows, opts),
        "build_seconds": round(built, 3),
        "metric": "cosine (inner product of L2-normalised vectors)",
    }


def _recall(curve: list[dict], query_rows: np.ndarray, opts: IndexOptions) -> dict[str, Any]:
    # tuning stops at the first setting reaching the target: then the last row is the chosen one
    chosen = curve[-1] if curve[-1]["recall"] >= opts.target_recall else max(curve, key=lambda r: r["recall"])
    return {
        f"recall_at_{opts.k}": chosen["recall"],
        "recall_target": opts.target_recall,
        "recall_queries": int(len(query_rows)),
        "recall_curve": curve,
        "recall_note": "held-out corpus vectors as queries (not in the training sample), truth = exact search",
    }


def _lance_sink(vectors: Vectors, opts: IndexOptions, out: Path) -> dict[str, Any]:
    from .lance import lance_sink

    return lance_sink(vectors, opts, out)


SINKS: dict[str, Callable[[Vectors, IndexOptions, Path], dict[str, Any]]] = {"faiss": faiss_sink, "lance": _lance_sink}


def build_index(
    embedder: Encoder | EmbedderSpec,
    corpus: str | Path,
    out_dir: str | Path,
    *,
    engine: str = "local",
    engine_options: EngineOptions | None = None,
    index: IndexOptions | None = None,
    shard_size: int = 1024,
    config: dict[str, Any] | None = None,
    model: str = "",
) -> Any:
    """Embed every corpus item (resuming from shards already written) and index the vectors in
    `out_dir`. `embedder`: a loaded encoder (local engine) or an EmbedderSpec (any engine)."""
    from ..serving.index import VectorIndex

    opts = index or IndexOptions()
    if opts.sink not in SINKS:
        raise ConfigError(f"--sink {opts.sink!r}: choose one of {', '.join(SINKS)}")
    out = Path(out_dir)
    source = open_corpus(corpus, stride=shard_size)
    runner = make_engine(engine, embedder, engine_options or EngineOptions())
    fingerprint = runner.fingerprint()
    state = {
        "fingerprint": fingerprint,
        "corpus_sha256": source.digest(),
        "shard_size": shard_size,
        "count": len(source),
    }
    store = ShardStore(out, state)
    shards = plan_shards(len(source), shard_size)
    started = time.perf_counter()
    runner.run(source, store.pending(shards), store)
    embed_seconds = time.perf_counter() - started
    if store.pending(shards):
        raise RuntimeError(f"{len(store.pending(shards))} shard(s) missing after the {engine} engine finished")
    dim = next(iter_vectors(store, shards[:1])).shape[1]
    result = SINKS[opts.sink](Vectors(store, shards, dim), opts, out)
    model_info = {"name": model, "fingerprint": fingerprint, "dim": int(dim)}
    backbone = getattr(getattr(embedder, "backbone", None), "name", None)
    if backbone:
        model_info["backbone"] = backbone
    model_info["profile"] = (  # the input formatting profile
        embedder.resolved_profile()[0]
        if isinstance(embedder, EmbedderSpec)
        else str(getattr(embedder, "profile", "mme5"))
    )
    info = provenance(
        config,
        model=model_info,
        corpus={"path": str(Path(corpus).resolve()), "sha256": state["corpus_sha256"], "count": len(source)},
        engine={
            "name": engine,
            **asdict(engine_options or EngineOptions()),
            "shard_size": shard_size,
            "shards": len(shards),
            "embed_seconds": round(embed_seconds, 3),
        },
        index=result,
    )
    write_json(out / INFO_FILE, info)
    return VectorIndex.load(out)
