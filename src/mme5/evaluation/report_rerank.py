"""The two-stage section of a run's report: per task, the first stage and the reranked numbers side
by side (both tie rules), and with `--compare-published` the publishers' embedder + reranker rows."""

from __future__ import annotations

RERANK_PUBLISHED = {
    # Qwen3-VL-Embedding README (spec qwen3_vl_family.md §5): mean over the MMEB-V2 retrieval subsets
    # (image / video / visdoc) and ViDoRe v3 NDCG@10; rerankers rescore Embedding-2B's top 100.
    "Qwen3-VL-Embedding-2B alone": (73.4, 74.8, 53.6, 79.2, 52.9),
    "+ Qwen3-VL-Reranker-2B": (75.2, 74.0, 53.2, 83.2, 60.8),
    "+ Qwen3-VL-Reranker-8B": (79.2, 78.2, 61.0, 85.8, 66.7),
}


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def rerank_lines(results: list[dict], compare_published: bool = False) -> list[str]:
    """Markdown lines; empty when no task of the run was reranked."""
    reranked = [r for r in results if r.get("rerank")]
    if not reranked:
        return []
    first = reranked[0]["rerank"]
    rows = [
        [
            r["task"],
            r["rerank"]["metric"],
            str(r["rows"]),
            _fmt(r["score"]),
            _fmt(r["rerank"]["score"]),
            _fmt(r["score_tie_aware"]),
            _fmt(r["rerank"]["score_tie_aware"]),
            _fmt(r["rerank"]["label_in_top_k"]),
        ]
        for r in reranked
    ]

    def mean(key: str, stage: str | None) -> float:
        return sum((r[stage] if stage else r)[key] for r in reranked) / len(reranked)

    stages = [("score", None), ("score", "rerank"), ("score_tie_aware", None), ("score_tie_aware", "rerank")]
    rows.append(["mean", "", "", *(_fmt(mean(key, stage)) for key, stage in stages), ""])
    lines = [
        f"## Two-stage: first stage vs reranked by {first['model']} (top {first['top_k']} per query; x 100)",
        "",
        *_table(
            [
                "Task",
                "Metric",
                "Rows",
                "First stage",
                "Reranked",
                "First stage tie-aware",
                "Reranked tie-aware",
                f"Label in top {first['top_k']}",
            ],
            rows,
        ),
        "",
    ]
    if compare_published:
        pub = [[name, *(_fmt(v) for v in values)] for name, values in RERANK_PUBLISHED.items()]
        lines += [
            "### Published two-stage numbers (Qwen3-VL-Embedding README; their data and protocol)",
            "",
            *_table(["Model", "MMEB-V2 retrieval", "image", "video", "visdoc", "ViDoRe v3 NDCG@10"], pub),
            "",
        ]
    return lines
