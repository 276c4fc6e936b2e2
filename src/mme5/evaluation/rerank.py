"""Two-stage evaluation: each query's first-stage top K (the embedder's ranking) rescored by a
reranker, with the same metrics under both tie rules (the publishers' `eval_reranker.py`, spec
qwen3_vl_family.md §5: K = 100, candidates sorted by reranker score).

Reranked order: the top K by reranker score, equal scores keeping their first-stage order (the
"original" rule); a label's tie-aware rank also counts every non-label within `tie_tol` of its
score. A label outside the first-stage top K keeps its first-stage rank (beyond K: the reranker
cannot recover it). Files beside the first stage's, under `<run>/<modality>/`:
`<Task>_rerank_score.json` (VLM2Vec's metric keys, fractions) and `<Task>_rerank_pred.jsonl`
(per query: `retrieved` first-stage keys, reranked `prediction`, `rerank_scores`, labels).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import write_json
from .mmeb_v2.data import RankData
from .mmeb_v2.metrics import KS, ranking_metrics, score_keys
from .mmeb_v2.ranking import rank_global, rank_local, rank_subset
from .mmeb_v2.scoring import modality_dir

DEFAULT_TOP_K = 100
METRIC_CUT = max(KS)
"""Every metric is cut at this rank: a label ranked beyond it counts as not found (rank 0)."""


@dataclass
class RerankStage:
    """The second stage of a run: a loaded Reranker, how deep it reranks, its batch size."""

    reranker: Any
    name: str
    top_k: int = DEFAULT_TOP_K
    batch_size: int = 16

    @property
    def fingerprint(self) -> str:
        return str(self.reranker.fingerprint)

    def matches(self, old: dict) -> bool:
        """Whether a finished task's `rerank` section was made by this stage."""
        section = old.get("rerank") or {}
        return section.get("fingerprint") == self.fingerprint and section.get("top_k") == self.top_k

    def evaluate(
        self, spec: Any, data: RankData, vectors: np.ndarray, *, tie_tol: float, block_bytes: int, out_dir: Path
    ) -> dict:
        """Rerank every query's first-stage top K; the task's `rerank` section (percent)."""
        t0 = time.perf_counter()
        first = first_stage(data, vectors, max(self.top_k, METRIC_CUT), tie_tol, block_bytes)
        shortlists = [top[top >= 0][: self.top_k] for top in first.top]
        pairs = [
            (data.items[int(data.query_ids[i])], data.items[int(data.pool_items[c])])
            for i, short in enumerate(shortlists)
            for c in short.tolist()
        ]
        flat = self.reranker.score_pairs(pairs, None, batch_size=self.batch_size, show_progress=len(pairs) > 256)
        bounds = np.cumsum([0, *map(len, shortlists)])
        scores = [flat[bounds[i] : bounds[i + 1]] for i in range(len(shortlists))]
        reranked = [
            rerank_query(s, sc, data.labels[i], first, i, tie_tol) for i, (s, sc) in enumerate(zip(shortlists, scores))
        ]
        original = ranking_metrics([r[0] for r in reranked], data.grades)
        tie_aware = ranking_metrics([r[1] for r in reranked], data.grades)
        metric = spec.metric if spec.metric in original else "hit@1"
        score_json: dict[str, Any] = {key: original[key] for key in score_keys()}
        score_json.update(num_pred=data.rows, num_data=data.rows, reranker=self.name, top_k=self.top_k)
        write_files(out_dir, spec, data, shortlists, scores, [r[2] for r in reranked], score_json)
        reach = [bool(np.isin(data.labels[i], s).any()) for i, s in enumerate(shortlists)]
        return {
            "model": self.name,
            "fingerprint": self.fingerprint,
            "top_k": self.top_k,
            "metric": metric,
            "score": original[metric] * 100,
            "score_tie_aware": tie_aware[metric] * 100,
            "original": {k: v * 100 for k, v in original.items()},
            "tie_aware": {k: v * 100 for k, v in tie_aware.items()},
            "tied_rows": int(sum(r[3] for r in reranked)),
            "label_in_top_k": float(np.mean(reach) * 100) if reach else 0.0,
            "pairs": len(pairs),
            "seconds": round(time.perf_counter() - t0, 3),
        }


def first_stage(data: RankData, vectors: np.ndarray, k: int, tie_tol: float, block_bytes: int):
    """The embedder's ranking of the pool per query, `k` deep (local lists or the whole pool)."""
    queries, pool = vectors[data.query_ids], vectors[data.pool_items]
    if data.candidates is not None:
        return rank_local(queries, pool, data.candidates, data.labels, k=k, tie_tol=tie_tol)
    return rank_global(queries, pool, data.labels, k=k, tie_tol=tie_tol, block_bytes=block_bytes)


def rerank_query(
    shortlist: np.ndarray, scores: np.ndarray, labels: np.ndarray, first: Any, row: int, tie_tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """One query: (label ranks, original rule; label ranks, tie-aware; reranked order of the
    shortlist; tied?). Ranks beyond `METRIC_CUT` are 0, as in the first stage."""
    labels = np.asarray(labels, dtype=np.int64)
    order = np.lexsort((np.arange(len(shortlist)), -scores))
    if not len(shortlist):
        return first.first[row], first.tie_aware[row], order, False
    _, lab_pos, f, t, tied = rank_subset(scores, np.arange(len(shortlist)), np.isin(shortlist, labels), 1, tie_tol)
    found = {int(shortlist[p]): (int(a), int(b)) for p, a, b in zip(lab_pos, f, t)}
    ranks = []
    for j, label in enumerate(labels.tolist()):
        a, b = found.get(label, (int(first.first[row][j]), int(first.tie_aware[row][j])))
        ranks.append((a if a <= METRIC_CUT else 0, b if b <= METRIC_CUT else 0))
    out = np.asarray(ranks, dtype=np.int64).reshape(-1, 2)
    return out[:, 0], out[:, 1], order, tied


def write_files(
    out_dir: Path,
    spec: Any,
    data: RankData,
    shortlists: list[np.ndarray],
    scores: list[np.ndarray],
    orders: list[np.ndarray],
    score_json: dict,
) -> None:
    """`<Task>_rerank_score.json` and `<Task>_rerank_pred.jsonl` under `<out_dir>/<modality>/`."""
    folder = Path(out_dir) / modality_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"{spec.name}_rerank_score.json", score_json)
    keys = data.pool_keys
    with (folder / f"{spec.name}_rerank_pred.jsonl").open("w", encoding="utf-8") as fh:
        for i, (short, sc, order) in enumerate(zip(shortlists, scores, orders)):
            row = {
                "prediction": [keys[int(short[j])] for j in order],
                "rerank_scores": [float(sc[j]) for j in order],
                "retrieved": [keys[int(c)] for c in short],
                "label": [keys[int(j)] for j in data.labels[i]],
                "rel_scores": data.grades[i].tolist() if data.grades is not None else None,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
