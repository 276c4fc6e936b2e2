"""Evaluation: MMEB (36 tasks) and XTD exactly as published, deduplicated, cached and sharded.

Main entry points: `Runner` + `EvalConfig` (run tasks into a folder), `resolve_tasks` (names and
benchmarks -> task specs), `write_report` (tables, summary, chart), `gallery_retrieval` /
`pairs_retrieval` (text -> image retrieval over a gallery from Python). See docs/evaluation.md.
"""

from __future__ import annotations

from .aggregate import aggregate_mmeb, aggregate_xtd, summarize_run
from .cache import EmbeddingCache
from .loaders import DataSource
from .metrics import rank_positives, ranks_from_scores, summarize
from .report import write_report
from .retrieval import GalleryResult, gallery_retrieval, pairs_retrieval
from .runner import EvalConfig, Runner
from .tasks import TaskSpec, all_tasks, benchmarks, get_task, resolve_tasks

__all__ = [
    "DataSource",
    "EmbeddingCache",
    "EvalConfig",
    "GalleryResult",
    "Runner",
    "TaskSpec",
    "aggregate_mmeb",
    "aggregate_xtd",
    "all_tasks",
    "benchmarks",
    "gallery_retrieval",
    "get_task",
    "pairs_retrieval",
    "rank_positives",
    "ranks_from_scores",
    "resolve_tasks",
    "summarize",
    "summarize_run",
    "write_report",
]
