"""A built index loaded for search: faiss (any type) or a LanceDB table, plus the corpus records,
behind one `search(queries, top_k, nprobe=, ef_search=)`.

Vectors are L2-normalised, so inner product = cosine. `build.build_index` writes the folder; this
module reads it (the server and `mme5 index search` import it from here); the records are read
from the build's vector shards.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..types import Encoder, InputError, Item, MissingFileError, parse_item
from .ann import search_params
from .engines import EmbedderSpec
from .lance import LanceSearcher
from .model import spec_from_record
from .shards import SHARDS_DIR, read_shard
from .sinks import INDEX_FILE

INFO_FILE = "index.json"
KNOBS = ("nprobe", "ef_search")


class Recorded(enum.Enum):
    """The default of a query's `instruction`: the one index.json records (distinct from None = none)."""

    RECORDED = "recorded"


RECORDED = Recorded.RECORDED


@dataclass(frozen=True)
class Hit:
    index: int
    score: float


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
        return self.faiss_index.search(queries, k, params=search_params(self.kind, knob, self.faiss_index))


def _faiss(folder: Path, info: dict[str, Any]) -> Any:
    return FaissSearcher(folder, info)


def _lance(folder: Path, info: dict[str, Any]) -> Any:
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
        self.path: Path | None = None
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

    @property
    def query_instruction(self) -> str | None:
        """The instruction queries get unless they name another (index.json `prompts.query`)."""
        return self.info.get("prompts", {}).get("query") or None

    def query_item(self, query: Item | dict | str, instruction: str | None | Recorded = RECORDED) -> Item:
        """A query as the index expects it: `instruction` if given (None: none at all), else the
        query's own instruction, else the index's recorded query instruction."""
        item = parse_item(query, "query")
        if instruction is RECORDED:
            return item if item.instruction is not None else replace(item, instruction=self.query_instruction)
        return replace(item, instruction=instruction or None)

    def search_items(
        self,
        embedder: Encoder,
        queries: Sequence[Item | dict | str],
        top_k: int = 10,
        *,
        instruction: str | None | Recorded = RECORDED,
        **knobs: int | None,
    ) -> list[list[Hit]]:
        """Embed `queries` with `embedder` (the index's model) as `query_item` says, then `search`."""
        if embedder.fingerprint != self.fingerprint:
            raise InputError(
                f"{self.path or 'the index'} was built with model fingerprint {self.fingerprint}, this model's "
                f"is {embedder.fingerprint}; load the model index.json names (VectorIndex.model_spec().load())"
            )
        items = [self.query_item(q, instruction) for q in queries]
        return self.search(embedder.encode(items, show_progress=False), top_k, **knobs)

    def model_spec(self, device: str | None = None) -> EmbedderSpec:
        """How to load the model that built this index (from index.json), on `device`."""
        return spec_from_record(self.info.get("model", {}), f"{self.path or 'this index'}/{INFO_FILE}", device)

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
        index = cls(SEARCHERS[sink](path, info.get("index", {})), ShardRecords(path), info, defaults)
        index.path = path
        return index


def describe_item(item: dict[str, Any]) -> str:
    """What a hit is, in one line: a text, an image path, `doc.pdf page 3`, a video file or its frame
    range (`f001.png .. f064.png (64 frames)`), with the instruction it was embedded with."""
    parts = []
    if item.get("pdf") is not None:
        parts.append(f"{item['pdf']} page {item['page']}" if item.get("page") else f"{item['pdf']} (all pages)")
    video = item.get("video")
    if isinstance(video, list):
        parts.append(f"{video[0]} .. {video[-1]} ({len(video)} frames)" if video else "(no frames)")
    elif video is not None:
        parts.append(str(video))
    if item.get("image") is not None:
        parts.append(str(item["image"]))
    if item.get("text"):
        parts.append(repr(item["text"]) if parts else str(item["text"]))
    shown = "  ".join(parts) or "(empty)"
    return f"{shown}  [{item['instruction']}]" if item.get("instruction") else shown
