"""MMEB-V2 aggregates and the leaderboard JSON (spec mmeb_v2.md §5; VLM2Vec:
experiments/report_score_v2.py).

Meta-task and modality scores are unweighted means over their tasks; the overall score is the
unweighted mean over all 78 tasks (not the mean of the three modality scores). Every aggregate
says how many of its tasks were present, so a partial run reads `(n/78)`.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..tasks import benchmarks, get_task
from .catalog import LEADERBOARD_KEYS, META_GROUPS, MODALITIES, MODALITY_METRIC, v2_meta

SCORE_SUFFIX = "_score.json"


def modality_tasks() -> dict[str, list[str]]:
    """modality -> its task names in the leaderboard's order (36 / 18 / 24)."""
    b = benchmarks()
    return {m: list(b[f"mmeb-v2-{m}"]) for m in MODALITIES}


def _entry(values: list[float], of: int) -> dict:
    return {"score": sum(values) / len(values) if values else None, "n": len(values), "of": of}


def aggregate_v2(scores: Mapping[str, float]) -> dict[str, dict]:
    """task -> headline score  =>  {meta-task..., image, video, visdoc, overall}, each
    {"score": mean or None, "n": tasks present, "of": tasks in the group}."""
    out: dict[str, dict] = {}
    everything: list[float] = []
    for modality, names in modality_tasks().items():
        for meta in META_GROUPS[modality]:
            members = [n for n in names if v2_meta(get_task(n)) == meta]
            out[meta] = _entry([scores[n] for n in members if n in scores], len(members))
        present = [scores[n] for n in names if n in scores]
        out[modality] = _entry(present, len(names))
        everything += present
    out["overall"] = _entry(everything, sum(len(v) for v in modality_tasks().values()))
    return out


def leaderboard_json(run_dir: str | Path, metadata: Mapping[str, Any] | None = None) -> dict:
    """The `report_score_v2` JSON of a run: metadata + per modality {Task: score dict}; a missing
    task file is "FILE_N/A", a missing modality folder "DIR_N/A"."""
    run_dir = Path(run_dir)
    meta = {
        "model_name": "",
        "model_backbone": "",
        "model_size": "",
        "embedding_dimension": "",
        "max_length_tokens": "",
        "model_release_date": "",
        "data_source": "Self-Reported",
        "url": "",
        "report_generated_date": datetime.date.today().isoformat(),
    }
    meta.update({k: v for k, v in (metadata or {}).items() if v is not None})
    metrics: dict[str, Any] = {}
    for modality, names in modality_tasks().items():
        folder = run_dir / modality
        if not folder.is_dir():
            metrics[modality] = "DIR_N/A"
            continue
        section: dict[str, Any] = {}
        for name in names:
            path = folder / f"{name}{SCORE_SUFFIX}"
            key = LEADERBOARD_KEYS.get(name, name)
            if path.is_file():
                data = json.loads(path.read_text(encoding="utf-8"))
                meta.setdefault("formatting_profile", data.get("profile"))
                section[key] = {k: v for k, v in data.items() if k != "profile"}
            else:
                section[key] = "FILE_N/A"
        metrics[modality] = section
    return {"metadata": meta, "metrics": metrics}


def leaderboard_scores(board: Mapping[str, Any]) -> dict[str, float]:
    """Headline score x 100 per task from a leaderboard JSON (hit@1 / ndcg_linear@5 by modality)."""
    back: dict[str, str] = {v: k for k, v in LEADERBOARD_KEYS.items()}
    out: dict[str, float] = {}
    for modality, section in board["metrics"].items():
        if isinstance(section, dict):
            for key, value in section.items():
                if isinstance(value, dict) and MODALITY_METRIC[modality] in value:
                    out[str(back.get(key, key))] = float(value[MODALITY_METRIC[modality]]) * 100
    return out


def write_leaderboard(
    run_dir: str | Path, path: str | Path, *, model_name: str | None = None, model_size: str = "", url: str = ""
) -> Path:
    """Write the leaderboard JSON of `run_dir`, metadata filled from its run.json where known."""
    from ...provenance import write_json

    run = {}
    run_file = Path(run_dir) / "run.json"
    if run_file.is_file():
        run = json.loads(run_file.read_text(encoding="utf-8"))
    meta = {
        "model_name": model_name or run.get("model") or "",
        "model_backbone": run.get("backbone", ""),
        "model_size": model_size,
        "embedding_dimension": run.get("dim", ""),
        "max_length_tokens": run.get("max_length", ""),
        "url": url,
        "formatting_profile": run.get("profile"),
    }
    return write_json(path, leaderboard_json(run_dir, meta))
