"""Annotation rows of an MMEB-V2 task, from a local folder or the hub.

Local: the hub's annotation columns as JSON lines or parquet, `<data-dir>/<Task>.jsonl|.parquet`
or `<data-dir>/<Task>/*.jsonl|*.parquet` (MVBench: one file per config, named after it, or a
`config` column). Hub: `load_dataset(hub_id, config, split=...)` per config (not reachable offline).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...types import InputError, MissingFileError
from ..loaders import DataSource, _jsonl, find_local
from ..tasks import TaskSpec


def frame_root(spec: TaskSpec, source: DataSource) -> Path:
    """Where the task's frame folders are: `<image-dir>/<frames>` (the TIGER-Lab/MMEB-V2 layout)."""
    root = source.image_root()
    if root is None:
        raise InputError(
            f"task {spec.name}: reading {spec.hub_id} from the hub needs --image-dir (where the "
            "TIGER-Lab/MMEB-V2 frame archives were unpacked)"
        )
    return root / spec.frames


def iter_task_rows(spec: TaskSpec, source: DataSource) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(where, row, hub config) for each annotation row, honouring `row_limit` and `--max-rows`."""
    limit = min(x for x in (spec.row_limit, source.max_rows, 1 << 62) if x is not None)
    for n, item in enumerate(_rows(spec, source)):
        if n >= limit:
            return
        yield item


def _rows(spec: TaskSpec, source: DataSource) -> Iterator[tuple[str, dict[str, Any], str]]:
    configs = spec.hub_configs or (spec.hub_config,)
    if source.data_dir is None:
        from datasets import load_dataset  # the real hub path (not reachable offline)

        for config in configs:
            ds = load_dataset(spec.hub_id, config or None, split=spec.hub_split)
            yield from ((f"{spec.hub_id}/{config} row {i}", r, config) for i, r in enumerate(ds))
        return
    found = find_local(source.data_dir, spec.name)
    if found is None or found[0] == "disk":
        raise MissingFileError(
            f"task {spec.name}: no annotation rows in {source.data_dir} (looked for "
            f"{spec.name}.jsonl/.parquet or {spec.name}/*.jsonl|*.parquet)"
        )
    kind, files = found
    for file in files:
        default = file.stem if file.stem in spec.hub_configs else spec.hub_config
        for where, row in _read(kind, file):
            yield where, row, str(row.get("config") or default)


def _read(kind: str, file: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if kind == "jsonl":
        yield from _jsonl(file)
        return
    import pyarrow.parquet as pq

    yield from ((f"{file} row {i}", r) for i, r in enumerate(pq.read_table(file).to_pylist()))


def column(row: dict[str, Any], name: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    """`row[name]`, checked: a missing or mistyped column is an InputError naming row and column."""
    if name not in row:
        raise InputError(f"{where}: missing column {name!r} (columns: {sorted(row)[:12]})")
    value = row[name]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(f"{where}: column {name!r} must be {names}, got {type(value).__name__}")
    return value


def labels_file(spec: TaskSpec, source: DataSource) -> list[str] | None:
    """An optional full label list for global classification: `<data-dir>/<Task>/labels.txt`."""
    if source.data_dir is None:
        return None
    path = Path(source.data_dir) / spec.name / "labels.txt"
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
