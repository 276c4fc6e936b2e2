"""Aggregates by the published rules.

MMEB: meta-task score = unweighted mean over its datasets (10 / 10 / 12 / 4); IND / OOD = mean
over the 20 / 16 datasets; overall = unweighted mean over all 36 datasets (NOT the mean of the
four meta-task scores). XTD: the mean Recall@10 over mmE5's 7 languages (it es ru zh pl tr ko).
Each aggregate records how many of its datasets were present, so partial runs are visible.
"""

from __future__ import annotations

from collections.abc import Mapping

from .catalog import XTD_FILES, XTD_MME5_LANGUAGES
from .tasks import META_TASKS, TaskSpec, benchmarks, get_task


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _entry(specs: list[TaskSpec], scores: Mapping[str, float]) -> dict:
    present = [scores[s.name] for s in specs if s.name in scores]
    return {"score": _mean(present), "n": len(present), "of": len(specs)}


def aggregate_mmeb(scores: Mapping[str, float]) -> dict[str, dict]:
    """MMEB task name -> score  =>  {classification, vqa, retrieval, grounding, IND, OOD, overall}:
    each {"score": mean or None, "n": datasets present, "of": datasets in the group}."""
    specs = [get_task(name) for name in benchmarks()["mmeb"]]
    out: dict[str, dict] = {meta: _entry([s for s in specs if s.meta_task == meta], scores) for meta in META_TASKS}
    out["IND"] = _entry([s for s in specs if s.split == "IND"], scores)
    out["OOD"] = _entry([s for s in specs if s.split == "OOD"], scores)
    out["overall"] = _entry(specs, scores)
    return out


def aggregate_xtd(scores: Mapping[str, float]) -> dict[str, dict]:
    """language -> score  =>  {"xtd": mmE5's 7-language mean, "xtd-11": mean over all 11}."""
    return {
        "xtd": {
            "score": _mean([scores[lang] for lang in XTD_MME5_LANGUAGES if lang in scores]),
            "n": sum(lang in scores for lang in XTD_MME5_LANGUAGES),
            "of": len(XTD_MME5_LANGUAGES),
        },
        "xtd-11": {
            "score": _mean([scores[lang] for lang in XTD_FILES if lang in scores]),
            "n": sum(lang in scores for lang in XTD_FILES),
            "of": len(XTD_FILES),
        },
    }


def summarize_run(results: list[dict], v2: bool = False) -> dict:
    """Per-task result dicts -> aggregates for every family present, under both tie rules (and,
    for XTD, both protocols). MMEB-V2 aggregates appear when a V2 task is present or `v2` says
    the run was an MMEB-V2 run (e.g. only its image tasks)."""
    out: dict = {}
    mmeb = [r for r in results if r.get("family") == "mmeb"]
    if mmeb:
        out["mmeb"] = {
            "original": aggregate_mmeb({r["task"]: r["score"] for r in mmeb}),
            "tie_aware": aggregate_mmeb({r["task"]: r["score_tie_aware"] for r in mmeb}),
        }
    xtd = [r for r in results if r.get("family") == "xtd"]
    if xtd:
        out["xtd"] = {}
        for protocol in ("row", "gallery"):
            for rule in ("original", "tie_aware"):
                for metric in ("recall@10", "precision@1"):
                    per_lang = {
                        r["language"]: r["protocols"][protocol][rule][metric]
                        for r in xtd
                        if protocol in r["protocols"] and metric in r["protocols"][protocol][rule]
                    }
                    if per_lang:
                        out["xtd"][f"{protocol}/{rule}/{metric}"] = {
                            "per_language": per_lang,
                            **aggregate_xtd(per_lang),
                        }
    if v2 or any(r.get("family") == "mmeb-v2" for r in results):
        out["mmeb-v2"] = summarize_v2(results)
    custom = [r for r in results if r.get("family") == "custom"]
    if custom:
        out["custom"] = {"mean": _mean([r["score"] for r in custom]), "n": len(custom)}
    return out


def summarize_v2(results: list[dict]) -> dict:
    """MMEB-V2 aggregates (image tasks included) under both tie rules and, where the published
    label/grade mispairing changes a score, with its values."""
    from .mmeb_v2.leaderboard import aggregate_v2

    v2 = [r for r in results if r.get("family") in ("mmeb", "mmeb-v2")]
    return {
        "original": aggregate_v2({r["task"]: r["score"] for r in v2}),
        "tie_aware": aggregate_v2({r["task"]: r["score_tie_aware"] for r in v2}),
        "published_pairing": aggregate_v2({r["task"]: r.get("score_published_pairing", r["score"]) for r in v2}),
    }
