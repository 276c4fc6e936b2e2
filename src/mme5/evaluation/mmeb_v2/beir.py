"""Visual-document retrieval in the BEIR layout (the 24 visdoc tasks, and the user's own
document collections), ranked over the whole corpus (spec mmeb_v2.md §4).

Local: `<data-dir>/<Task>/queries.jsonl` (`query-id`, `query`[, `language`]), `corpus.jsonl`
(`corpus-id`, `image` = path relative to the task folder), `qrels.jsonl` (`query-id`,
`corpus-id`, `score`); each may instead be `<name>.parquet` or `<name>/*.parquet` (the hub's own
files, page bytes inside). Hub: the configs `queries`, `corpus`, `qrels` of the task's hub id.
qrels become {query: {page: max(score)}}, keeping score > 0; grades are the scores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ... import prompts as P
from ...types import InputError, Item, MissingFileError
from ..loaders import DataSource, _jsonl, beir_files, register_loader
from ..tasks import TaskSpec
from .data import PoolBuilder, RankData
from .rows import column

log = logging.getLogger(__name__)


def _part(spec: TaskSpec, source: DataSource, part: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if source.data_dir is None:
        from datasets import load_dataset  # the real hub path (not reachable offline)

        ds = load_dataset(spec.hub_id, part, split=spec.hub_split)
        yield from ((f"{spec.hub_id}/{part} row {i}", r) for i, r in enumerate(ds))
        return
    folder = Path(source.data_dir) / spec.name
    files = beir_files(folder, part)
    if not files:
        raise MissingFileError(
            f"task {spec.name}: no {part} in {folder} (expected {part}.jsonl, {part}.parquet "
            f"or {part}/*.parquet: the BEIR layout)"
        )
    for file in files:
        if file.suffix == ".jsonl":
            yield from _jsonl(file)
        else:
            import pyarrow.parquet as pq

            yield from ((f"{file} row {i}", r) for i, r in enumerate(pq.read_table(file).to_pylist()))


def _page(value: Any, folder: Path | None, where: str) -> str | bytes:
    """A corpus `image`: a path relative to the task folder, raw bytes, or the hub's {bytes, path}."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value:
        path = Path(value)
        return str(path if path.is_absolute() or folder is None else folder / path)
    raise InputError(f"{where}: corpus `image` must be a path or image bytes, got {type(value).__name__}")


def load_beir(spec: TaskSpec, source: DataSource) -> RankData:
    """Queries x whole corpus; labels and grades from qrels (max score per pair, > 0 only)."""
    folder = Path(source.data_dir) / spec.name if source.data_dir else None
    qrels: dict[str, dict[str, float]] = {}
    for where, row in _part(spec, source, "qrels"):
        qid, did = str(column(row, "query-id", where, (str, int))), str(column(row, "corpus-id", where, (str, int)))
        score = float(column(row, "score", where, (int, float)))
        if score > 0:
            qrels.setdefault(qid, {})[did] = max(score, qrels.get(qid, {}).get(did, score))
    builder = PoolBuilder(spec.name, local=False, skip_missing=source.skip_missing)
    unlabeled = filtered = 0
    for i, (where, row) in enumerate(_part(spec, source, "queries")):
        qid = str(column(row, "query-id", where, (str, int)))
        language = row.get("language")
        if spec.language and language != spec.language:
            filtered += 1
            continue
        if qid not in qrels:
            unlabeled += 1
            continue
        if source.max_rows is not None and len(builder.query_ids) >= source.max_rows:
            break
        docs = qrels[qid]
        query = Item(instruction=P.V2_VISDOC_QUERY, text=column(row, "query", where), language=language)
        builder.add(i, query, list(docs), grades=list(docs.values()))
    for where, row in _part(spec, source, "corpus"):
        did = str(column(row, "corpus-id", where, (str, int)))
        page = _page(column(row, "image", where, (str, dict, bytes)), folder, f"task {spec.name}: {where}")
        if isinstance(page, str) and not Path(page).is_file():
            raise InputError(f"task {spec.name}: {where}: page image not found: {page}")
        builder.candidate(did, Item(instruction=P.V2_VISDOC_PAGE, image=page))
    if unlabeled:
        builder.notes.append(f"{unlabeled} queries without positive qrels left out (as published)")
    if filtered:
        builder.notes.append(f"{filtered} queries in other languages than {spec.language} left out")
    return builder.build()


register_loader("beir-vidore")(load_beir)
register_loader("beir-visrag")(load_beir)
register_loader("beir")(load_beir)
