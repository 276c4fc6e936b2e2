"""Evaluation tasks as small declarative records in a registry, plus named benchmarks.

A task says WHAT is evaluated (hub id and config, meta-task, IND/OOD, modalities, main metric);
how its rows are read is looked up by `TaskSpec.format` in the loader registry (`loaders.py`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Literal

from ..types import InputError

MetaTask = Literal["classification", "vqa", "retrieval", "grounding", "moment", "xtd", "custom"]
Split = Literal["IND", "OOD"]
META_TASKS: tuple[MetaTask, ...] = ("classification", "vqa", "retrieval", "grounding")
META_LABELS = {"classification": "Class.", "vqa": "VQA", "retrieval": "Retr.", "grounding": "Ground."}


@dataclass(frozen=True)
class TaskSpec:
    """One evaluation dataset. `format` picks the loader; `metric` is the headline number."""

    name: str
    family: Literal["mmeb", "mmeb-v2", "xtd", "custom"]
    meta_task: MetaTask
    hub_id: str
    hub_config: str
    format: str = "mmeb-rows"
    """Loader key: mmeb-rows, xtd, beir-vidore, beir-visrag, video-cls, video-ret, video-mret, ... (loaders.py)."""
    split: Split | None = None
    modality: str = ""
    """Query -> target sides, e.g. "I+T -> T"."""
    n_candidates: int | None = None
    language: str | None = None
    metric: Literal["precision@1", "recall@10", "hit@1", "ndcg_linear@5"] = "precision@1"
    hub_split: str = "test"
    description: str = ""
    group: Literal["image", "video", "visdoc"] | None = None
    """MMEB-V2 modality (the leaderboard's `image` / `video` / `visdoc` section)."""
    v2_meta: str | None = None
    """MMEB-V2 meta-task: I-CLS/I-QA/I-RET/I-VG, V-CLS/V-QA/V-RET/V-MRET, VDRv1/VDRv2/VR/OOD."""
    protocol: Literal["local", "global"] = "local"
    """Candidates: `local` = the row's own list; `global` = every query against the whole pool."""
    frames: str = ""
    """Frame root of a video task inside the image dir (the TIGER-Lab/MMEB-V2 archive layout)."""
    hub_configs: tuple[str, ...] = ()
    """Several hub configs read one after another (MVBench's 20)."""
    row_limit: int | None = None
    """Only the first N rows, as the published evaluation does (SmthSmthV2: 1000)."""
    max_batch_size: int | None = None
    """Cap on the encode batch (long videos: the published run forces 4 for five video tasks)."""


_TASKS: dict[str, TaskSpec] = {}
_BENCHMARKS: dict[str, tuple[str, ...]] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry; names are unique case-insensitively."""
    key = spec.name.lower()
    if key in _TASKS and _TASKS[key] != spec:
        raise ValueError(f"task {spec.name!r} is already registered with a different definition")
    _TASKS[key] = spec
    return spec


def register_benchmark(name: str, task_names: list[str] | tuple[str, ...]) -> None:
    """A named group of registered tasks (e.g. `mmeb-ood`)."""
    missing = [t for t in task_names if t.lower() not in _TASKS]
    if missing:
        raise ValueError(f"benchmark {name!r} names unregistered tasks {missing}")
    _BENCHMARKS[name.lower()] = tuple(_TASKS[t.lower()].name for t in task_names)


def all_tasks() -> list[TaskSpec]:
    _ensure_catalog()
    return list(_TASKS.values())


def benchmarks() -> dict[str, tuple[str, ...]]:
    _ensure_catalog()
    return dict(_BENCHMARKS)


def get_task(name: str) -> TaskSpec:
    """Look a task up by name (case-insensitive); unknown names get close matches suggested."""
    _ensure_catalog()
    try:
        return _TASKS[name.lower()]
    except KeyError:
        raise InputError(_unknown(name)) from None


def resolve_tasks(names: list[str] | tuple[str, ...]) -> list[TaskSpec]:
    """Benchmark and task names -> task specs, in order, without duplicates."""
    _ensure_catalog()
    out: dict[str, TaskSpec] = {}
    for name in names:
        key = name.lower()
        if key in _BENCHMARKS:
            for task in _BENCHMARKS[key]:
                out.setdefault(task, _TASKS[task.lower()])
        else:
            spec = get_task(name)
            out.setdefault(spec.name, spec)
    return list(out.values())


def custom_task(name: str, *, beir: bool = False) -> TaskSpec:
    """A user dataset inside `--data-dir`: a subset folder or file in the MMEB-eval format, or
    (`beir`) a document collection in the BEIR layout, ranked over its whole corpus.

    A folder named like a registered task keeps that task's declaration (meta-task, IND/OOD, protocol).
    """
    _ensure_catalog()
    known = _TASKS.get(name.lower())
    if known is not None and known.format == "mmeb-rows" and not beir:
        return replace(known, hub_config=name) if known.hub_config != name else known
    if known is not None and known.format != "mmeb-rows":
        return known
    if beir:
        return TaskSpec(
            name=name,
            family="custom",
            meta_task="retrieval",
            hub_id="",
            hub_config="",
            format="beir",
            protocol="global",
            metric="ndcg_linear@5",
            modality="T -> page",
            description="user document collection (BEIR layout), ranked over its whole corpus",
        )
    return TaskSpec(
        name=name,
        family="custom",
        meta_task="custom",
        hub_id="",
        hub_config=name,
        description="user task in the MMEB-eval format",
    )


def _unknown(name: str) -> str:
    vocabulary = {t.name.lower(): t.name for t in _TASKS.values()}
    vocabulary.update({b: b for b in _BENCHMARKS})
    close = difflib.get_close_matches(name.lower(), list(vocabulary), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(vocabulary[c]) for c in close)}?" if close else ""
    return (
        f"unknown task or benchmark {name!r}{hint} "
        f"(benchmarks: {', '.join(sorted(_BENCHMARKS))}; `mme5 eval list` shows all tasks)"
    )


def _ensure_catalog() -> None:
    # the catalog registers itself on import; importing here keeps `tasks` importable on its own
    from . import catalog  # noqa: F401
    from . import emoji as _emoji  # noqa: F401  (the quickstart's emoji retrieval tasks)
    from .mmeb_v2 import catalog as _v2  # noqa: F401  (MMEB-V2: video and visdoc tasks)
