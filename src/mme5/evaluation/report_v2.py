"""Markdown sections of a run's MMEB-V2 tasks and aggregates (used by report.py)."""

from __future__ import annotations

from .mmeb_v2.catalog import META_GROUPS, MODALITIES
from .published import MMEB_V2_PUBLISHED, MMEB_V2_PUBLISHED_MODALITY, V2_COLUMNS


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _cell(entry: dict) -> str:
    if entry["score"] is None:
        return "–"
    partial = f" ({entry['n']}/{entry['of']})" if entry["n"] < entry["of"] else ""
    return f"{entry['score']:.2f}{partial}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def v2_task_lines(results: list[dict]) -> list[str]:
    """One row per ranked (MMEB-V2 style) task: headline metric under both tie rules, the
    published label/grade pairing's value where it differs, hit@1, candidates and ties."""
    rows = []
    for r in results:
        p = r["protocols"]["row"]
        rows.append(
            [
                r["task"],
                r.get("v2_meta") or "–",
                r["candidate_protocol"],
                str(r["rows"]),
                str(r["pool_size"]),
                r["metric"],
                _fmt(r["score"]),
                _fmt(r["score_tie_aware"]),
                _fmt(r.get("score_published_pairing")),
                _fmt(p["original"]["hit@1"]),
                _fmt(p["original"]["ndcg_linear@5"]),
                str(p["tied_rows"]),
                str(r["skipped_rows"]),
            ]
        )
    profiles = sorted({str(r.get("profile")) for r in results})
    lines = [f"## MMEB-V2 / ranked tasks (x 100; input profile: {', '.join(profiles)})", ""]
    lines += _table(
        [
            "Task",
            "Meta",
            "Candidates",
            "Queries",
            "Pool",
            "Metric",
            "Score",
            "Tie-aware",
            "Published pairing",
            "hit@1",
            "NDCG@5 (linear)",
            "Tied queries",
            "Skipped",
        ],
        rows,
    )
    return lines + [""]


def v2_summary_lines(summary: dict, compare_published: bool) -> list[str]:
    """Meta-task, modality and overall (mean over all 78 tasks) scores; (n/N) = tasks present."""
    header = ["Model", *V2_COLUMNS[:-1], "All 78"]
    order = [c for m in MODALITIES for c in (*META_GROUPS[m], m)] + ["overall"]
    rows = [
        [f"this run ({label})"] + [_cell(summary[key][c]) for c in order]
        for key, label in (
            ("original", "original ties"),
            ("tie_aware", "tie-aware"),
            ("published_pairing", "published label/grade pairing"),
        )
    ]
    if compare_published:
        for table in (MMEB_V2_PUBLISHED, MMEB_V2_PUBLISHED_MODALITY):
            rows += [[f"published: {name}"] + [_fmt(v[c]) for c in V2_COLUMNS] for name, v in table.items()]
    lines = ["## MMEB-V2 (image/video: hit@1, visdoc: NDCG@5 linear; overall = mean over all 78 tasks)", ""]
    return lines + _table(header, rows) + [""]
