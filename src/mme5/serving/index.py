"""A built index loaded for search: faiss (any type) or a LanceDB table, plus the corpus records,
behind one `search(queries, top_k, nprobe=, ef_search=)`.

Vectors are L2-normalised, so inner product = cosine. Building lives in `mme5.index.build`
(re-exported here: `build_index`); the records are read from the build's vector shards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..index.build import INDEX_FILE, INFO_FILE, build_index  # noqa: F401  (the build entry point)
from ..index.corpus import RESERVED, open_corpus  # noqa: F401
from ..index.shards import SHARDS_DIR, read_shard
from ..types import InputError, MissingFileError

KNOBS = ("nprobe", "ef_search")


@dataclass(frozen=True)
class Hit:
    index: int
    score: float


def read_corpus(path: str | Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """A corpus (JSONL, parquet, media folder) -> its items and records, every row validated."""
    from ..index.corpus import base_dir, to_item

    corpus = open_corpus(path)
    records = corpus.records(0, len(corpus))
    return [to_item(r, base_dir(corpus), f"{path}: item {i}") for i, r in enumerate(records)], records


class ShardRecords:
    """The corpus records (id, item, meta) of an index, kept as Arrow columns; a record is parsed
    from JSON only when a hit returns it."""

    def __init__(self, folder: Path) -> None:
        import pyarrow as pa

        files = sorted((folder / SHARDS_DIR).glob("shard-*.parquet"))
        tables = [read_shard(f, ["id", "item", "meta"]) for f in files]
        table = pa.concat_tables(tables) if tables else pa.table({"id": [], "item": [], "meta": []})
        self._columns = {c: table.column(c) for c in ("id", "item", "meta")}

    def __len__(self) -> int:
        return len(self._columns["id"])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "id": self._columns["id"][i].as_py(),
            "item": json.loads(self._columns["item"][i].as_py()),
            "meta": json.loads(self._columns["meta"][i].as_py()),
        }


class FaissSearcher:
    """Any faiss index type; nprobe / efSearch per call through SearchParameters (thread-safe)."""

    def __init__(self, folder: Path, info: dict[str, Any]) -> None:
        import faiss

        self.faiss_index = faiss.read_index(str(folder / INDEX_FILE))
        self.kind = info.get("type", "flat")
        self.size = int(self.faiss_index.ntotal)
        self.dim = int(self.faiss_index.d)

    def search(self, queries: np.ndarray, k: int, knob: int | None) -> tuple[np.ndarray, np.ndarray]:
        from ..index.ann import search_params

        return self.faiss_index.search(queries, k, params=search_params(self.kind, knob, self.faiss_index))


def _faiss(folder: Path, info: dict[str, Any]) -> Any:
    return FaissSearcher(folder, info)


def _lance(folder: Path, info: dict[str, Any]) -> Any:
    from ..index.lance import LanceSearcher

    return LanceSearcher(folder, info)


def _compact(folder: Path, info: dict[str, Any]) -> Any:
    from ..index.compact import CompactSearcher

    return CompactSearcher.load(folder, info)


SEARCHERS: dict[str, Callable[[Path, dict[str, Any]], Any]] = {"faiss": _faiss, "lance": _lance, "compact": _compact}


class VectorIndex:
    """A loaded index: a searcher (faiss or LanceDB), the corpus records and the build's index.json."""

    def __init__(
        self, searcher: Any, records: Any, info: dict[str, Any], defaults: dict[str, int | None] | None = None
    ) -> None:
        if searcher.size != len(records):
            raise InputError(f"index holds {searcher.size} vectors but {len(records)} corpus records")
        self.searcher, self.records, self.info = searcher, records, info
        self.knob: str | None = {"ivf-flat": "nprobe", "ivf-pq": "nprobe", "hnsw": "ef_search"}.get(self.kind)
        tuned = info.get("index", {}).get("search", {}).get(self.knob) if self.knob else None
        override = (defaults or {}).get(self.knob) if self.knob else None
        self.default_knob: int | None = override if override is not None else tuned

    @property
    def kind(self) -> str:
        return str(self.info.get("index", {}).get("type", "flat"))

    @property
    def faiss_index(self) -> Any:
        return self.searcher.faiss_index

    @property
    def dim(self) -> int:
        return int(self.searcher.dim)

    @property
    def fingerprint(self) -> str:
        return str(self.info.get("model", {}).get("fingerprint", ""))

    def __len__(self) -> int:
        return len(self.records)

    def search(self, queries: np.ndarray, top_k: int, **knobs: int | None) -> list[list[Hit]]:
        """(q, dim) L2-normalised queries -> for each, the `top_k` best rows by cosine, best first.
        `nprobe` (IVF) or `ef_search` (HNSW) override the server's setting for this call."""
        given = {name: value for name, value in knobs.items() if value is not None}
        for name, value in given.items():
            if name not in KNOBS:
                raise TypeError(f"unknown search setting {name!r}")
            if name != self.knob:
                applies = f"it applies to {'IVF' if name == 'nprobe' else 'HNSW'} indexes"
                raise InputError(f"{name} does not apply to this {self.kind} index ({applies})")
            if value < 1:
                raise InputError(f"{name} must be >= 1, got {value}")
        knob = given.get(self.knob, self.default_knob) if self.knob else None
        k = min(top_k, len(self))
        scores, rows = self.searcher.search(np.ascontiguousarray(queries, dtype=np.float32), k, knob)
        return [[Hit(int(i), float(s)) for i, s in zip(r, sc) if i >= 0] for r, sc in zip(rows, scores)]

    @classmethod
    def load(cls, path: str | Path, **defaults: int | None) -> VectorIndex:
        """Open an index folder; `nprobe=` / `ef_search=` set this process's default knob."""
        path = Path(path)
        if not (path / INFO_FILE).is_file():
            raise MissingFileError(
                f"{path} is not a complete index (missing {INFO_FILE}); "
                "build one with `mme5 index build --input CORPUS --output DIR`"
            )
        info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
        sink = info.get("index", {}).get("sink", "faiss")
        if sink not in SEARCHERS:
            raise InputError(f"{path}: unknown index sink {sink!r} in {INFO_FILE}")
        return cls(SEARCHERS[sink](path, info.get("index", {})), ShardRecords(path), info, defaults)
