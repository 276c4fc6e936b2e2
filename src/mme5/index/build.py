"""`build_index`: the one function behind `mme5 index build` for every corpus size. Corpus ->
vector shards (local or Ray engine, resumable) -> an index (faiss type or LanceDB table) whose
recall@10 against exact search is measured on held-out corpus queries and written to index.json.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..provenance import provenance, write_json
from ..types import Encoder, InputError
from .ann import plan_index
from .compact import compact_sink
from .corpus import open_corpus
from .engines import EmbedderSpec, Engine, EngineOptions, LocalEngine
from .lance import lance_sink
from .model import model_record, prompts_of
from .prompts import index_prompts, with_document_prompts
from .ray_engine import RayEngine
from .search import INFO_FILE, VectorIndex
from .shards import ShardStore, iter_vectors, plan_shards
from .sinks import IndexOptions, Vectors, faiss_sink

SINKS: dict[str, Callable[[Vectors, IndexOptions, Path], dict[str, Any]]] = {"faiss": faiss_sink, "lance": lance_sink}
log = logging.getLogger(__name__)


def _local(embedder: Encoder | EmbedderSpec, options: EngineOptions) -> Engine:
    return LocalEngine(
        embedder.load() if isinstance(embedder, EmbedderSpec) else embedder, options.batch_size, options.skip_bad
    )


def _ray(embedder: Encoder | EmbedderSpec, options: EngineOptions) -> Engine:
    if options.skip_bad:
        raise ConfigError("--skip-bad works with --engine local only (the Ray engine stops at a bad item)")
    if not isinstance(embedder, EmbedderSpec):
        raise TypeError("the ray engine loads the model in each actor: pass an EmbedderSpec, not a loaded model")
    return RayEngine(embedder, options)


ENGINES: dict[str, Callable[[Encoder | EmbedderSpec, EngineOptions], Engine]] = {"local": _local, "ray": _ray}


def _sink(opts: IndexOptions, vectors: Vectors) -> Callable[[Vectors, IndexOptions, Path], dict[str, Any]]:
    """The sink that builds the index: a compact one for `--quantize`, or when `--index auto` finds
    that full vectors do not fit the memory budget (index/compact.py); else the `--sink`."""
    if opts.quantize != "none":
        return compact_sink
    if opts.sink == "faiss":
        plan = plan_index(opts.kind, vectors.count, vectors.dim, opts.memory_budget)
        if plan.quantize != "none":
            return partial(compact_sink, plan=plan)
    return SINKS[opts.sink]


def make_engine(name: str, embedder: Encoder | EmbedderSpec, options: EngineOptions) -> Engine:
    """The engine called `name` ('local' or 'ray') around a loaded embedder or an EmbedderSpec."""
    if name not in ENGINES:
        raise ConfigError(f"--engine {name!r}: choose one of {', '.join(ENGINES)}")
    return ENGINES[name](embedder, options)


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
) -> VectorIndex:
    """Embed every corpus item (resuming from shards already written) and index the vectors in
    `out_dir`. `embedder`: a loaded encoder (local engine) or an EmbedderSpec (any engine); `model`:
    the folder or hub id a loaded encoder came from (recorded, so searches can load it again).

    Folder corpora are embedded with the model's document prompt per kind; index.json records the
    model and the prompts (the query instruction searches apply by default): see `index.prompts`."""
    opts = index or IndexOptions()
    if opts.sink not in SINKS:
        raise ConfigError(f"--sink {opts.sink!r}: choose one of {', '.join(SINKS)}")
    if engine_options is not None and engine_options.skip_bad and opts.sink != "faiss":
        raise ConfigError("--skip-bad works with --sink faiss only (a LanceDB table's ids are corpus rows)")
    if opts.quantize == "none" and (opts.dim is not None or opts.rescore_factor is not None):
        raise ConfigError("--dim and --rescore-factor build a compact index: add --quantize binary or int8")
    if opts.quantize != "none" and opts.sink != "faiss":
        raise ConfigError(
            f"--quantize {opts.quantize} builds a faiss compact index: it does not apply to --sink {opts.sink}"
        )
    out = Path(out_dir)
    source = open_corpus(corpus, stride=shard_size)
    runner = make_engine(engine, embedder, engine_options or EngineOptions())
    fingerprint = runner.fingerprint()
    loaded = getattr(runner, "embedder", None)  # the local engine's model (Ray actors load their own)
    prompts = index_prompts(prompts_of(embedder, loaded, model), source)
    source = with_document_prompts(source, prompts)
    state = {
        "fingerprint": fingerprint,
        "corpus_sha256": source.digest(),
        "shard_size": shard_size,
        "count": len(source),
        "document_prompts": prompts["document"],
    }
    store = ShardStore(out, state)
    shards = plan_shards(len(source), shard_size)
    started = time.perf_counter()
    todo = store.pending(shards)
    if len(todo) < len(shards):  # only a build that finds earlier shards says it resumes
        log.info(
            "resuming: %d of %d vector shards already written in %s", len(shards) - len(todo), len(shards), store.dir
        )
    runner.run(source, todo, store)
    embed_seconds = time.perf_counter() - started
    missing = store.pending(shards)
    if missing:
        raise RuntimeError(f"{len(missing)} shard(s) missing after the {engine} engine finished")
    skipped = [{"row": b.row, "where": b.where, "reason": b.reason} for b in getattr(runner, "skipped", [])]
    dim = next(iter_vectors(store, shards[:1])).shape[1]
    vectors = Vectors(store, shards, dim)
    if not vectors.count:
        raise InputError(
            f"no item of {corpus} could be embedded; the first: {skipped[0]['reason'] if skipped else '?'}"
        )
    result = _sink(opts, vectors)(vectors, opts, out)
    info = provenance(
        config,
        model=model_record(embedder, loaded, fingerprint, dim, model),
        prompts=prompts,
        corpus={"path": str(Path(corpus).resolve()), "sha256": state["corpus_sha256"], "count": len(source)},
        engine={
            "name": engine,
            **asdict(engine_options or EngineOptions()),
            "shard_size": shard_size,
            "shards": len(shards),
            "embed_seconds": round(embed_seconds, 3),
            **({"skipped": skipped} if skipped else {}),
        },
        index=result,
    )
    write_json(out / INFO_FILE, info)
    return VectorIndex.load(out)
