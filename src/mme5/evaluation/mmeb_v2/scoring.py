"""Score a ranked task the MMEB-V2 way and write VLM2Vec's per-task files.

`<run>/<modality>/<Task>_score.json`: the published metric keys in VLM2Vec's order (fractions,
original tie rule, correct label/grade pairing) plus `num_pred`, `num_data`; `<Task>_pred.jsonl`:
per query `{"prediction": [top-10 keys], "label": [...], "rel_scores": [...] | null}`. The task's
result JSON (percent, like every mme5 result) adds the tie-aware numbers and, for graded tasks,
the published mispairing's value beside the headline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...provenance import write_json
from ..tasks import TaskSpec
from .catalog import v2_group, v2_meta
from .data import RankData
from .metrics import KS, ranking_metrics, score_keys
from .ranking import LabelRanks, rank_global, rank_local

PRED_K = 100
"""Candidates kept per query in `<Task>_pred.jsonl`: the reranking stage of Qwen3-VL-Reranker's
evaluation reads the first 100 (spec qwen3_vl_family.md §5); metrics stop at @10 regardless."""


def rank(data: RankData, vectors: np.ndarray, tie_tol: float, block_bytes: int) -> LabelRanks:
    """Rank the pool for every query (its own list when local, the whole pool when global)."""
    queries = vectors[data.query_ids]
    pool = vectors[data.pool_items]
    k = max(max(KS), PRED_K)
    if data.candidates is not None:
        return rank_local(queries, pool, data.candidates, data.labels, k=k, tie_tol=tie_tol)
    return rank_global(queries, pool, data.labels, k=k, tie_tol=tie_tol, block_bytes=block_bytes)


def _percent(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v * 100 for k, v in metrics.items()}


def score(
    spec: TaskSpec,
    data: RankData,
    vectors: np.ndarray,
    *,
    tie_tol: float,
    block_bytes: int,
    out_dir: Path | None,
    profile: str,
) -> dict:
    """Metrics under both tie rules (and the published pairing), the task files, the result core."""
    ranks = rank(data, vectors, tie_tol, block_bytes)
    original = ranking_metrics(ranks.first, data.grades)
    tie_aware = ranking_metrics(ranks.tie_aware, data.grades)
    metric = spec.metric if spec.metric in original else "hit@1"
    out: dict = {
        "metric": metric,
        "score": original[metric] * 100,
        "score_tie_aware": tie_aware[metric] * 100,
        "v2_group": v2_group(spec),
        "v2_meta": v2_meta(spec),
        "candidate_protocol": data.protocol,
        "pool_size": len(data.pool_keys),
        "profile": profile,
        "protocols": {
            "row": {
                "label": "whole pool (global)" if data.candidates is None else "per-row candidate lists (local)",
                "original": _percent(original),
                "tie_aware": _percent(tie_aware),
                "tied_rows": int(ranks.tied.sum()),
                "rows": data.rows,
                "mean_candidates": float(np.mean([len(c) for c in data.candidates]))
                if data.candidates
                else len(data.pool_keys),
            }
        },
        "notes": list(data.notes),
    }
    if data.published_grades is not None:
        quirk = ranking_metrics(ranks.first, data.grades, dcg_grades=data.published_grades)
        out["published_pairing"] = _percent({k: v for k, v in quirk.items() if k.startswith("ndcg")})
        if metric in out["published_pairing"]:
            out["score_published_pairing"] = out["published_pairing"][metric]
    score_json = {key: original[key] for key in score_keys()}
    score_json.update(num_pred=data.rows, num_data=data.rows)
    out["score_file"] = score_json
    if out_dir is not None:
        write_task_files(out_dir, spec, data, ranks, score_json, profile)
    return out


def modality_dir(spec: TaskSpec) -> str:
    return v2_group(spec) or "custom"


def write_task_files(
    out_dir: Path, spec: TaskSpec, data: RankData, ranks: LabelRanks, score_json: dict, profile: str
) -> None:
    """`<Task>_score.json` and `<Task>_pred.jsonl` under `<out_dir>/<modality>/`."""
    folder = Path(out_dir) / modality_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"{spec.name}_score.json", {**score_json, "profile": profile})
    keys = data.pool_keys
    with (folder / f"{spec.name}_pred.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(data.rows):
            labels = [keys[j] if j >= 0 else None for j in data.labels[i].tolist()]
            rel = data.grades[i].tolist() if data.grades is not None else None
            pred = [keys[j] for j in ranks.top[i].tolist() if j >= 0]
            fh.write(json.dumps({"prediction": pred, "label": labels, "rel_scores": rel}, ensure_ascii=False) + "\n")
