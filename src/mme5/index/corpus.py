"""Corpus sources read as numbered records: a JSONL file, a parquet file or a folder of images.

A record is `{"id", "item", "meta"}` (item = the item fields as written; relative image paths
resolve against the corpus's folder). Sources read any range of records on their own, so a shard
can be prepared by whichever worker gets it (the Ray engine's CPU tasks), and every row number is
fixed by the corpus, not by the order workers finish.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..pdf_pages import pdf_page_count
from ..types import InputError, Item, parse_item

RESERVED = ("id", "meta")  # corpus-row keys besides the item fields: returned with search hits
# A folder corpus: which item field each file kind fills. A PDF is one record per page (id
# `name#page=N`, item `{"pdf": name, "page": N}`; mme5.media renders the page when it is encoded).
FOLDER_MEDIA: dict[str, str] = {suffix: "image" for suffix in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")}
FOLDER_MEDIA.update({".pdf": "pdf", **{suffix: "video" for suffix in (".mp4", ".mkv", ".webm", ".avi", ".mov")}})


class Corpus(Protocol):
    """What engines need from a corpus: its size, a content digest and any range of records."""

    path: Path

    def __len__(self) -> int: ...
    def digest(self) -> str: ...
    def records(self, start: int, end: int) -> list[dict[str, Any]]: ...


def to_item(record: dict[str, Any], base_dir: Path, where: str) -> Item:
    """A corpus record -> the Item to embed (the shared item parser; relative paths made absolute)."""
    return parse_item(record["item"], where, base_dir)


def _record(row: dict[str, Any], where: str, base_dir: Path) -> dict[str, Any]:
    fields = {k: v for k, v in row.items() if k not in RESERVED}
    parse_item(fields, where, base_dir)  # validates now, with the file and line in the error
    rid = row.get("id")
    return {"id": None if rid is None else str(rid), "item": fields, "meta": row.get("meta")}


def _page_records(record: dict[str, Any], where: str, base_dir: Path) -> list[dict[str, Any]]:
    """A whole-PDF record (`pdf` without `page`) -> one record per page, as a folder corpus gives
    (id `ID#page=N`); the PDF is opened now, so a missing or broken file is named with `where`.
    Any other record -> itself."""
    item = record["item"]
    if not item.get("pdf") or item.get("page") is not None:
        return [record]
    from ..media import pdf_page_count

    pdf = Path(item["pdf"])
    count = pdf_page_count(pdf if pdf.is_absolute() else base_dir / pdf, where)
    rid = record["id"]
    return [
        {"id": None if rid is None else f"{rid}#page={n}", "item": {**item, "page": n}, "meta": record["meta"]}
        for n in range(1, count + 1)
    ]


@dataclass
class JsonlCorpus:
    """One JSON object per non-blank line; a whole-PDF line is one record per page. One scan validates
    every row and notes where each `stride`-th record starts, so `records(start, end)` seeks instead
    of re-reading the file."""

    path: Path
    stride: int = 1024
    # per stride: (byte offset, line number, records of that line before the stride's first record)
    _marks: list[tuple[int, int, int]] = field(default_factory=list)
    _count: int = 0
    _sha: str = ""

    def __post_init__(self) -> None:
        sha, offset, count = hashlib.sha256(), 0, 0
        with self.path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                sha.update(raw)
                if raw.strip():
                    n = len(self._parse(raw, lineno))
                    for boundary in range(-(-count // self.stride) * self.stride, count + n, self.stride):
                        self._marks.append((offset, lineno, boundary - count))
                    count += n
                offset += len(raw)
        self._count, self._sha = count, sha.hexdigest()
        if not count:
            raise InputError(f"{self.path}: no items (the file is empty)")

    def _parse(self, raw: bytes, lineno: int) -> list[dict[str, Any]]:
        where = f"{self.path}:{lineno}"
        try:
            row = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: invalid JSON ({getattr(exc, 'msg', exc)})") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
        return _page_records(_record(row, where, self.path.parent), where, self.path.parent)

    def __len__(self) -> int:
        return self._count

    def digest(self) -> str:
        return self._sha

    def records(self, start: int, end: int) -> list[dict[str, Any]]:
        if start % self.stride:
            raise ValueError(f"records({start}, ...): ranges start at multiples of {self.stride}")
        offset, first_line, skip = self._marks[start // self.stride]
        out: list[dict[str, Any]] = []
        with self.path.open("rb") as fh:
            fh.seek(offset)
            for lineno, raw in enumerate(fh, first_line):
                if len(out) >= end - start:
                    break
                if raw.strip():
                    out.extend(self._parse(raw, lineno)[skip:])
                    skip = 0
        return out[: end - start]


@dataclass
class ParquetCorpus:
    """A parquet file with item columns (text, image, instruction, language) and optional id, meta;
    ranges are read by row group, never the whole file."""

    path: Path

    def __post_init__(self) -> None:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(self.path).metadata
        self._groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        if not sum(self._groups):
            raise InputError(f"{self.path}: no items (the table is empty)")

    def __len__(self) -> int:
        return sum(self._groups)

    def digest(self) -> str:
        return _file_sha256(self.path)

    def records(self, start: int, end: int) -> list[dict[str, Any]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        first, wanted, seen = None, [], 0
        for number, size in enumerate(self._groups):
            if seen + size > start and seen < end:
                first = seen if first is None else first
                wanted.append(number)
            seen += size
        table = pq.ParquetFile(self.path).read_row_groups(wanted) if wanted else pa.table({})
        rows = table.slice(start - (first or 0), end - start).to_pylist()
        return [
            _record(
                {k: v for k, v in row.items() if v is not None or k in RESERVED},
                f"{self.path}: row {start + i}",
                self.path.parent,
            )
            for i, row in enumerate(rows)
        ]


@dataclass
class FolderCorpus:
    """Every media file under a folder (sorted relative paths; the path is the record's id)."""

    path: Path

    def __post_init__(self) -> None:
        self._files = sorted(
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob("*")
            if p.is_file() and p.suffix.lower() in FOLDER_MEDIA
        )
        if not self._files:
            raise InputError(f"{self.path}: no media files ({', '.join(sorted(FOLDER_MEDIA))}) in this folder")
        self._rows = [(name, page) for name in self._files for page in _pages(self.path / name)]

    def __len__(self) -> int:
        return len(self._rows)

    def digest(self) -> str:
        sha = hashlib.sha256()
        for name in self._files:
            stat = (self.path / name).stat()
            sha.update(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
        return sha.hexdigest()

    def records(self, start: int, end: int) -> list[dict[str, Any]]:
        return [
            {
                "id": name if page is None else f"{name}#page={page}",
                "item": {FOLDER_MEDIA[Path(name).suffix.lower()]: name, **({} if page is None else {"page": page})},
                "meta": None,
            }
            for name, page in self._rows[start:end]
        ]


def _pages(path: Path) -> list[int | None]:
    """A PDF's page numbers (one record each); [None] (one record) for any other file. A PDF that
    cannot be opened (or has too many pages) is one record, page 1, whose encoding reports why: the
    build stops there, or leaves it out with --skip-bad, like any other bad item."""
    if FOLDER_MEDIA[path.suffix.lower()] != "pdf":
        return [None]
    try:
        return list(range(1, pdf_page_count(path, str(path)) + 1))
    except InputError:
        return [1]


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


SOURCES: dict[str, Callable[[Path, int], Corpus]] = {
    "jsonl": lambda p, stride: JsonlCorpus(p, stride),
    "parquet": lambda p, stride: ParquetCorpus(p),
    "folder": lambda p, stride: FolderCorpus(p),
}


def open_corpus(path: str | Path, stride: int = 1024) -> Corpus:
    """The source for `path`: a folder of media files, a .parquet file, else JSONL."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"corpus not found: {path}")
    kind = "folder" if path.is_dir() else "parquet" if path.suffix == ".parquet" else "jsonl"
    return SOURCES[kind](path, stride)


def base_dir(corpus: Corpus) -> Path:
    """Where relative media paths in the corpus's records resolve."""
    return corpus.path if corpus.path.is_dir() else corpus.path.parent
