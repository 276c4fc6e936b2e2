"""A loaded evaluation dataset: its unique items plus, per protocol, which candidates each query
is ranked against.

Every (text, image, instruction) item is stored once, however many rows mention it, so the runner
encodes each exactly once (the original eval deduplicates the same way).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..types import InputError, Item

log = logging.getLogger(__name__)


@dataclass
class Ranking:
    """One protocol: row i ranks `candidate_ids[i]` (item ids, -1 = padding) for query i.

    `positive[i]` is the column of the positive in row i (0 in MMEB's candidate lists).
    """

    candidate_ids: np.ndarray  # (rows, k) int64
    positive: np.ndarray  # (rows,) int64
    label: str


@dataclass
class SkippedRow:
    row: int
    path: str


@dataclass
class EvalData:
    """Unique items, the query of each kept row, and one `Ranking` per protocol."""

    task: str
    items: list[Item]
    query_ids: np.ndarray  # (rows,) int64
    rankings: dict[str, Ranking]
    rows_total: int
    occurrences: int
    """Item mentions before deduplication (queries + every candidate of every row)."""
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.query_ids)


def _media_identity(media: object) -> tuple | None:
    """An image (or a video: a frame folder / file, or a sequence of frames) by path or content."""
    if media is None or media == "" or media == ():
        return None
    if isinstance(media, (bytes, bytearray)):
        return ("bytes", hashlib.sha1(media).hexdigest())
    if isinstance(media, (str, Path)):
        return ("path", str(media))
    if isinstance(media, (list, tuple)):
        return ("frames", *(_media_identity(frame) for frame in media))
    return ("pil", media.mode, media.size, hashlib.sha1(media.tobytes()).hexdigest())  # type: ignore[attr-defined]


def item_identity(item: Item) -> tuple:
    """What makes two items the same input: text, instruction, the image, the video, the PDF page."""
    return (
        item.text or "",
        item.instruction or "",
        _media_identity(item.image),
        _media_identity(getattr(item, "video", None)),
        _media_identity(getattr(item, "pdf", None)),
        getattr(item, "page", None),
    )


class RowsBuilder:
    """Collects rows of (query, candidates) into an `EvalData`, deduplicating items and checking
    that every image file exists (missing -> an error naming task, row and path, or a skip)."""

    def __init__(self, task: str, *, skip_missing: bool = False) -> None:
        self.task = task
        self.skip_missing = skip_missing
        self.items: list[Item] = []
        self._ids: dict[tuple, int] = {}
        self._exists: dict[str, bool] = {}
        self.query_ids: list[int] = []
        self.candidates: list[list[int]] = []
        self.positives: list[int] = []
        self.skipped: list[SkippedRow] = []
        self.rows_total = 0
        self.occurrences = 0

    def add(self, row: int, query: Item, candidates: list[Item], positive: int = 0) -> bool:
        """Add one row; returns False when it was skipped because an image file is missing."""
        self.rows_total += 1
        if not candidates:
            raise InputError(f"task {self.task}: row {row}: the row has no candidates")
        if not 0 <= positive < len(candidates):
            raise InputError(
                f"task {self.task}: row {row}: positive index {positive} is outside its {len(candidates)} candidates"
            )
        missing = self._first_missing([query, *candidates])
        if missing is not None:
            if not self.skip_missing:
                raise InputError(
                    f"task {self.task}: row {row}: image file not found: {missing} "
                    "(check --image-dir, or pass --skip-missing to drop such rows and count them)"
                )
            self.skipped.append(SkippedRow(row, missing))
            return False
        self.occurrences += 1 + len(candidates)
        self.query_ids.append(self.item_id(query))
        self.candidates.append([self.item_id(c) for c in candidates])
        self.positives.append(positive)
        return True

    def item_id(self, item: Item) -> int:
        key = item_identity(item)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.items)
            self.items.append(item)
        return found

    def build(self, label: str = "per-row candidate lists (MMEB / mmE5 protocol)") -> EvalData:
        if self.skipped:
            log.warning(
                "task %s: skipped %d of %d rows with missing images (first: row %d, %s)",
                self.task,
                len(self.skipped),
                self.rows_total,
                self.skipped[0].row,
                self.skipped[0].path,
            )
        if not self.query_ids:
            raise InputError(
                f"task {self.task}: no usable rows (read {self.rows_total}, "
                f"skipped {len(self.skipped)} for missing images)"
            )
        width = max(len(c) for c in self.candidates)
        cand = np.full((len(self.candidates), width), -1, dtype=np.int64)
        for i, ids in enumerate(self.candidates):
            cand[i, : len(ids)] = ids
        ranking = Ranking(cand, np.asarray(self.positives, dtype=np.int64), label)
        return EvalData(
            task=self.task,
            items=self.items,
            query_ids=np.asarray(self.query_ids, dtype=np.int64),
            rankings={"row": ranking},
            rows_total=self.rows_total,
            occurrences=self.occurrences,
            skipped=self.skipped,
        )

    def _first_missing(self, items: list[Item]) -> str | None:
        for item in items:
            if isinstance(item.image, (str, Path)) and item.image != "":
                path = str(item.image)
                if path not in self._exists:
                    self._exists[path] = Path(path).is_file()
                if not self._exists[path]:
                    return path
        return None


def gallery_ranking(data: EvalData) -> Ranking:
    """CLIP-style protocol: rank every query against ALL distinct positives of the dataset (the
    gallery, e.g. XTD's 1,000 images) instead of its own candidate list."""
    row = data.rankings["row"]
    positives = row.candidate_ids[np.arange(len(row.positive)), row.positive]
    gallery, column = np.unique(positives, return_inverse=True)
    cand = np.broadcast_to(gallery, (len(positives), len(gallery)))  # a view: no (rows, n) copy
    return Ranking(
        cand, column.astype(np.int64), f"full gallery of {len(gallery)} distinct positives (CLIP-style protocol)"
    )
