"""Reports of a run folder: markdown tables (stdout + report.md), summary.json and a PNG chart.

`RUN_DIR/tasks/*.json` are the source of truth; everything here is recomputed from them, so
`mme5 eval report RUN_DIR` gives the same answer as the run that wrote them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..provenance import write_json
from ..types import MissingFileError
from .aggregate import summarize_run
from .catalog import XTD_MME5_LANGUAGES
from .published import MMEB_PUBLISHED, XTD_PUBLISHED
from .report_rerank import rerank_lines
from .report_v2 import v2_summary_lines, v2_task_lines
from .tasks import META_LABELS, META_TASKS, all_tasks
from .views import views_lines

AGG_COLUMNS = [*META_TASKS, "IND", "OOD", "overall"]


def load_run(run_dir: str | Path) -> list[dict]:
    """The per-task results of a run, in registry order (then custom tasks by name)."""
    folder = Path(run_dir) / "tasks"
    if not folder.is_dir():
        raise MissingFileError(f"{run_dir} holds no task results (no tasks/ folder); run `mme5 eval ...` first")
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    if not results:
        raise MissingFileError(f"{folder} is empty: no task has finished yet")
    order = {spec.name: i for i, spec in enumerate(all_tasks())}
    return sorted(results, key=lambda r: (order.get(r["task"], len(order)), r["task"]))


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _agg_cell(entry: dict) -> str:
    if entry["score"] is None:
        return "–"
    partial = f" ({entry['n']}/{entry['of']})" if entry["n"] < entry["of"] else ""
    return f"{entry['score']:.1f}{partial}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(results: list[dict], summary: dict, compare_published: bool = False) -> str:
    """The tables of a run: per task, aggregates (and published numbers when asked)."""
    model = results[0].get("model", {})
    lines = [f"# Evaluation: {model.get('name') or 'model'} (fingerprint {model.get('fingerprint')})", ""]
    ranked = [r for r in results if r["family"] != "xtd" and "candidate_protocol" not in r]
    v2_tasks = [r for r in results if "candidate_protocol" in r]
    if v2_tasks:
        lines += v2_task_lines(v2_tasks)
    if ranked:
        rows = [
            [
                r["task"],
                META_LABELS.get(r["meta_task"], r["meta_task"]),
                r.get("split") or "–",
                str(r["rows"]),
                _fmt(r["score"]),
                _fmt(r["score_tie_aware"]),
                _fmt(r["protocols"]["row"]["original"].get("recall@10")),
                _fmt(r["protocols"]["row"]["original"]["mrr"]),
                str(r["protocols"]["row"]["tied_rows"]),
                str(r["skipped_rows"]),
            ]
            for r in ranked
        ]
        lines += ["## Tasks (Precision@1 x 100; candidate 0 is the positive)", ""]
        lines += _table(
            ["Task", "Meta", "Split", "Rows", "P@1", "P@1 tie-aware", "R@10", "MRR", "Tied rows", "Skipped"], rows
        )
        lines.append("")
    if "mmeb" in summary:
        rows = [
            [f"this run ({rule.replace('_', '-')} ties)"] + [_agg_cell(summary["mmeb"][rule][c]) for c in AGG_COLUMNS]
            for rule in ("original", "tie_aware")
        ]
        if compare_published:
            rows += [[f"published: {name}"] + [_fmt(v[c]) for c in AGG_COLUMNS] for name, v in MMEB_PUBLISHED.items()]
        lines += ["## MMEB (overall = mean over the 36 datasets; (n/N) = datasets present)", ""]
        lines += _table(["Model", *[META_LABELS[m] for m in META_TASKS], "IND", "OOD", "Overall"], rows)
        lines.append("")
    if "mmeb-v2" in summary:
        lines += v2_summary_lines(summary["mmeb-v2"], compare_published)
    if "xtd" in summary:
        lines += _xtd_lines(results, summary, compare_published)
    lines += views_lines(results)
    lines += rerank_lines(results, compare_published)
    warnings = [w for r in results for w in r.get("warnings", [])]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    return "\n".join(lines)


def _xtd_lines(results: list[dict], summary: dict, compare_published: bool) -> list[str]:
    xtd = [r for r in results if r["family"] == "xtd"]
    labels = {name: p["label"] for r in xtd for name, p in r["protocols"].items()}
    rows = []
    for r in xtd:
        p = r["protocols"]
        cells = [
            r["language"],
            str(r["rows"]),
            _fmt(p["row"]["original"]["recall@10"]),
            _fmt(p["row"]["original"]["precision@1"]),
            _fmt(p["row"]["tie_aware"]["recall@10"]),
            _fmt(p["row"]["tie_aware"]["precision@1"]),
        ]
        g = p.get("gallery")
        cells += [_fmt(g["tie_aware"]["recall@10"]), _fmt(g["tie_aware"]["precision@1"])] if g else ["–", "–"]
        rows.append(cells)
    s = summary["xtd"]
    avg = ["avg (it es ru zh pl tr ko)", ""]
    for key in (
        "row/original/recall@10",
        "row/original/precision@1",
        "row/tie_aware/recall@10",
        "row/tie_aware/precision@1",
        "gallery/tie_aware/recall@10",
        "gallery/tie_aware/precision@1",
    ):
        avg.append(_agg_cell(s[key]["xtd"]) if key in s else "–")
    rows.append(avg)
    lines = ["## XTD text -> image (x 100)", ""]
    lines += [f"- row protocol: {labels.get('row', '')}"] + (
        [f"- gallery protocol: {labels['gallery']}"] if "gallery" in labels else []
    )
    lines.append("")
    lines += _table(
        [
            "Lang",
            "Rows",
            "R@10",
            "P@1",
            "R@10 tie-aware",
            "P@1 tie-aware",
            "Gallery R@10 tie-aware",
            "Gallery P@1 tie-aware",
        ],
        rows,
    )
    lines.append("")
    if compare_published:
        ours = s["row/original/recall@10"]
        row = ["this run (row protocol)"] + [_fmt(ours["per_language"].get(lang)) for lang in XTD_MME5_LANGUAGES]
        row.append(_agg_cell(ours["xtd"]))
        pub = [
            [f"published: {name}"] + [_fmt(v[lang]) for lang in (*XTD_MME5_LANGUAGES, "avg")]
            for name, v in XTD_PUBLISHED.items()
        ]
        lines += ["### XTD Recall@10 vs published (their numbers: per-row protocol on the hub copy)", ""]
        lines += _table(["Model", *XTD_MME5_LANGUAGES, "avg"], [row, *pub])
        lines.append("")
    return lines


def write_chart(results: list[dict], path: str | Path) -> Path:
    """Bars per task (P@1 under both tie rules) and per XTD language (R@10, both protocols)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ranked = [r for r in results if r["family"] != "xtd"]
    xtd = [r for r in results if r["family"] == "xtd"]
    panels = [p for p in (ranked, xtd) if p]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(6.0, 0.45 * max(len(p) for p in panels) + 2), 3.6 * len(panels)), squeeze=False
    )
    for ax, group in zip(axes[:, 0], panels):
        x = np.arange(len(group))
        if group is ranked:
            series = {
                "P@1 (original ties)": [r["score"] for r in group],
                "P@1 (tie-aware)": [r["score_tie_aware"] for r in group],
            }
            names = [r["task"] for r in group]
        else:
            series = {
                "R@10 row (mmE5)": [r["protocols"]["row"]["original"]["recall@10"] for r in group],
                "R@10 gallery (CLIP-style, tie-aware)": [
                    r["protocols"].get("gallery", r["protocols"]["row"])["tie_aware"]["recall@10"] for r in group
                ],
            }
            names = [r["language"] for r in group]
        width = 0.8 / len(series)
        for i, (label, values) in enumerate(series.items()):
            ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
        ax.set_xticks(x, names, rotation=45 if group is ranked else 0, ha="right" if group is ranked else "center")
        ax.set_title(
            "Precision@1 per task" if group is ranked else "XTD text -> image Recall@10 per language", fontsize=10
        )
        ax.set_ylim(0, 100)
        ax.set_ylabel("score x 100")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(run_dir: str | Path, compare_published: bool = False, chart: bool = True) -> str:
    """Recompute the summary of RUN_DIR; write summary.json, report.md (and chart.png); return the markdown."""
    run_dir = Path(run_dir)
    results = load_run(run_dir)
    run_file = run_dir / "run.json"
    command = json.loads(run_file.read_text(encoding="utf-8")).get("command") if run_file.is_file() else None
    summary = summarize_run(results, v2=command == "eval mmeb-v2")
    text = markdown(results, summary, compare_published)
    write_json(run_dir / "summary.json", summary)
    (run_dir / "report.md").write_text(text + "\n", encoding="utf-8")
    if chart:
        write_chart(results, run_dir / "chart.png")
    return text
