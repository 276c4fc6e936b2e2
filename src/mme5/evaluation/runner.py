"""Run tasks: load, encode every unique item once (cache, shards), score, write per-task JSON.

A task's JSON is written as soon as it finishes, so an interrupted run resumes where it stopped;
the embedding cache is filled chunk by chunk, so even a half-encoded task loses little.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import diff_configs, to_dict
from ..provenance import provenance, write_json
from ..types import Encoder, InputError, Item
from .cache import EmbeddingCache, default_cache_root
from .data import EvalData
from .distributed import broadcast, is_main
from .encoding import encode_unique
from .loaders import DataSource, load_task
from .metrics import rank_positives, summarize_ranks
from .mmeb_v2 import qwen_protocol
from .mmeb_v2.data import RankData, from_eval_data
from .mmeb_v2.scoring import score as score_v2
from .rerank import RerankStage
from .tasks import TaskSpec
from .views import score_views

log = logging.getLogger(__name__)

# config keys that change the numbers: a finished task is reused only if these match
RESULT_KEYS = ("data", "ks", "ndcg_k", "tie_tol", "protocols")


@dataclass(frozen=True)
class EvalConfig:
    """How to evaluate (YAML-loadable; `mme5 eval ... --set key=value`)."""

    data: DataSource = DataSource()
    """Where the tasks are read from (`data.data_dir` None = the hub)."""
    batch_size: int = 16
    chunk_items: int = 1024
    """Items encoded (and cached) per step."""
    ks: tuple[int, ...] = (1, 5, 10)
    ndcg_k: int = 10
    tie_tol: float = 1e-6
    """Scores this close to the positive's count as ties for the tie-aware rank (not the original rule)."""
    protocols: tuple[str, ...] = ("row", "gallery")
    """Which protocols to score when a task has several (XTD: row = mmE5, gallery = CLIP-style)."""
    cache: bool = True
    cache_dir: str | None = None
    block_bytes: int = 256 << 20
    """Memory of one block of query x corpus scores when ranking a whole corpus (MMEB-V2 global tasks)."""
    views: tuple[str, ...] = ()
    """Also score these vector views of the same float vectors, e.g. [64-float, 64-binary, full-int8]
    (`--dim`/`--quantize`; see evaluation/views.py). Not for MMEB-V2's ranked tasks."""


def task_file(out_dir: str | Path, task: str) -> Path:
    return Path(out_dir) / "tasks" / f"{task.replace('/', '_')}.json"


class Runner:
    """Evaluates tasks with one embedder into `out_dir`; counts what it encodes."""

    def __init__(
        self,
        embedder: Encoder,
        config: EvalConfig,
        out_dir: str | Path,
        *,
        model_name: str = "",
        overwrite: bool = False,
        rerank: RerankStage | None = None,
    ) -> None:
        self.embedder = embedder
        self.rerank = rerank
        """A second stage (`mme5 eval ... --rerank MODEL`): each task also gets a `rerank` section."""
        if self.profile == qwen_protocol.PROTOCOL:  # MMEB-V2 as Qwen's evaluation code reads it
            config = replace(config, data=replace(config.data, protocol=qwen_protocol.PROTOCOL))
        self.config = config
        self.out_dir = Path(out_dir)
        self.model_name = model_name
        self.overwrite = overwrite
        self.cache = (
            EmbeddingCache(config.cache_dir or default_cache_root(), embedder.fingerprint) if config.cache else None
        )
        self.encoded = 0  # items that went through the model in this process (all ranks together)

    def run(self, specs: list[TaskSpec]) -> list[dict]:
        """Evaluate each task (skipping those already finished with this model and config)."""
        from tqdm.auto import tqdm

        results = []
        for spec in tqdm(specs, desc="tasks", unit="task", disable=not is_main() or len(specs) < 2):
            done, error = broadcast(self._check_finished(spec) if is_main() else (None, None))
            if error:  # raised on every rank, so none waits forever in a collective
                raise InputError(error)
            if done is not None:
                log.info("task %s: already done in %s, reusing it", spec.name, self.out_dir)
                results.append(done)
                continue
            result = self.evaluate(spec)
            if is_main():
                write_json(task_file(self.out_dir, spec.name), result)
            results.append(result)
        return results

    def evaluate(self, spec: TaskSpec) -> dict:
        t0 = time.perf_counter()
        cfg = self.config
        data = load_task(spec, cfg.data)
        if cfg.data.protocol == qwen_protocol.PROTOCOL:
            data = qwen_protocol.adapt(spec, data)
        t1 = time.perf_counter()
        vectors, hits = self.encode_items(data.items, desc=spec.name, max_batch=spec.max_batch_size)
        t2 = time.perf_counter()
        if isinstance(data, RankData):
            result = self._score_ranked(spec, data, vectors) if is_main() else {}
        else:
            result = self._score(spec, data, vectors) if is_main() else {}
            if is_main() and spec.family == "mmeb":  # also an MMEB-V2 image task: VLM2Vec's files and metrics
                v2 = score_v2(
                    spec,
                    from_eval_data(data),
                    vectors,
                    tie_tol=cfg.tie_tol,
                    block_bytes=cfg.block_bytes,
                    out_dir=self.out_dir,
                    profile=self.profile,
                )
                result["v2"] = {k: v2[k] for k in ("v2_group", "v2_meta", "score_file", "protocols")}
        if self.rerank is not None and is_main():
            ranked = data if isinstance(data, RankData) else from_eval_data(data)
            result["rerank"] = self.rerank.evaluate(
                spec, ranked, vectors, tie_tol=cfg.tie_tol, block_bytes=cfg.block_bytes, out_dir=self.out_dir
            )
        result["encoding"] = {
            "occurrences": data.occurrences,
            "unique_items": len(data.items),
            "encoded": len(data.items) - hits,
            "cache_hits": hits,
        }
        result["seconds"] = {
            "load": round(t1 - t0, 3),
            "encode": round(t2 - t1, 3),
            "score": round(time.perf_counter() - t2, 3),
        }
        return result

    def encode_items(
        self, items: list[Item], desc: str = "encode", max_batch: int | None = None
    ) -> tuple[np.ndarray, int]:
        """(n, dim) vectors of unique items and the number of cache hits (`max_batch` caps the batch)."""
        batch = min(self.config.batch_size, max_batch) if max_batch else self.config.batch_size
        vectors, hits = encode_unique(
            self.embedder, items, cache=self.cache, batch_size=batch, chunk_items=self.config.chunk_items, desc=desc
        )
        self.encoded += len(items) - hits
        return vectors, hits

    def _score(self, spec: TaskSpec, data: EvalData, vectors: np.ndarray) -> dict:
        cfg = self.config
        protocols, warnings = {}, []
        for name, ranking in data.rankings.items():
            if name != "row" and name not in cfg.protocols:
                continue
            ranks = rank_positives(vectors, data.query_ids, ranking.candidate_ids, ranking.positive, cfg.tie_tol)
            ks = tuple(sorted(set(cfg.ks) | {1, 10}))  # the headline metrics are always there
            protocols[name] = {"label": ranking.label, **summarize_ranks(ranks, ks, cfg.ndcg_k)}
        tied = {name: p["tied_rows"] for name, p in protocols.items() if p["tied_rows"]}
        if tied:
            counts = ", ".join(f"{n}: {t} of {protocols[n]['rows']}" for n, t in tied.items())
            msg = (
                f"task {spec.name}: rows whose positive ties another candidate (within {cfg.tie_tol:g}) - {counts}; "
                "the original rule counts ties as hits, the tie_aware numbers do not"
            )
            log.warning(msg)
            warnings.append(msg)
        if data.skipped:
            warnings.append(f"skipped {len(data.skipped)} of {data.rows_total} rows with missing images")
        main = protocols["row"]
        scores = {
            "metric": spec.metric,
            "score": main["original"][spec.metric],
            "score_tie_aware": main["tie_aware"][spec.metric],
            "protocols": protocols,
        }
        if cfg.views:
            scores["views"] = score_views(data, vectors, cfg.views, spec.metric, cfg.tie_tol)
        return self._record(spec, data, scores, warnings)

    def _record(self, spec: TaskSpec, data: EvalData | RankData, scores: dict, warnings: list[str]) -> dict:
        """One task's result file: what was evaluated, its scores, rows, warnings, model and provenance."""
        return {
            "task": spec.name,
            "family": spec.family,
            "meta_task": spec.meta_task,
            "split": spec.split,
            "language": spec.language,
            "modality": spec.modality,
            **scores,
            "rows": data.rows,
            "rows_total": data.rows_total,
            "skipped_rows": len(data.skipped),
            "skipped_examples": [{"row": s.row, "path": s.path} for s in data.skipped[:5]],
            "warnings": warnings,
            "model": {
                "name": self.model_name,
                "fingerprint": self.embedder.fingerprint,
                "backbone": self.embedder.backbone.name,
                "dim": self.embedder.dim,
                "profile": self.profile,
                "video_mode": getattr(self.embedder, "video_mode", None),
            },
            **provenance(to_dict(self.config)),
        }

    @property
    def profile(self) -> str:
        """The input formatting profile of the embedder (named in every result file)."""
        return str(getattr(self.embedder, "profile", None) or "mme5")

    def _score_ranked(self, spec: TaskSpec, data: RankData, vectors: np.ndarray) -> dict:
        cfg = self.config
        core = score_v2(
            spec,
            data,
            vectors,
            tie_tol=cfg.tie_tol,
            block_bytes=cfg.block_bytes,
            out_dir=self.out_dir,
            profile=self.profile,
        )
        warnings = [f"task {spec.name}: {note}" for note in core.pop("notes")]
        if cfg.views:
            warnings.append(f"task {spec.name}: vector views ({', '.join(cfg.views)}) are not scored on ranked tasks")
        tied = core["protocols"]["row"]["tied_rows"]
        if tied:
            warnings.append(
                f"task {spec.name}: {tied} of {data.rows} queries have a label tied with another candidate "
                f"(within {cfg.tie_tol:g}); the original rule breaks ties by pool order, tie_aware against the labels"
            )
        if data.skipped:
            warnings.append(f"skipped {len(data.skipped)} of {data.rows_total} rows with missing media")
        video_mode = getattr(self.embedder, "video_mode", "native")
        if video_mode != "native" and any(it.has_video for it in data.items):
            warnings.append(
                f"task {spec.name}: off-protocol video input - this image-only backbone sees each video as "
                f"its middle sampled frame ({video_mode})"
            )
        return self._record(spec, data, core, warnings)

    def _check_finished(self, spec: TaskSpec) -> tuple[dict | None, str | None]:
        try:
            return self._finished(spec), None
        except InputError as exc:
            return None, str(exc)

    def _finished(self, spec: TaskSpec) -> dict | None:
        path = task_file(self.out_dir, spec.name)
        if self.overwrite or not path.is_file():
            return None
        import json

        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("%s is unreadable; evaluating %s again", path, spec.name)
            return None
        fp = old.get("model", {}).get("fingerprint")
        if fp != self.embedder.fingerprint:
            raise InputError(
                f"{path} holds results of another model (fingerprint {fp}, this one is "
                f"{self.embedder.fingerprint}); use another --output or pass --overwrite"
            )
        if set(self.config.views) - set(old.get("views", {})):
            log.info("task %s: scoring the new vector views (the float vectors come from the cache)", spec.name)
            return None
        now = {k: v for k, v in to_dict(self.config).items() if k in RESULT_KEYS}
        before = {k: v for k, v in old.get("config", {}).items() if k in RESULT_KEYS}
        changed = diff_configs(before, now)
        if changed:
            raise InputError(
                f"{path} was computed with different settings ({', '.join(changed)}); "
                "use another --output or pass --overwrite"
            )
        if self.rerank is not None and not self.rerank.matches(old):
            return None  # first stage again (from the embedding cache), then this reranker
        return old
