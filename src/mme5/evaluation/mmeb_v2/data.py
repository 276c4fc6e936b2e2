"""A loaded MMEB-V2 task: unique encoder inputs, a keyed candidate pool, and per query its labels
(with grades) and, for `local` tasks, its own candidate list.

As in VLM2Vec (base_eval_dataset.generate_cand_dataset), the pool is every row's candidates
deduplicated by key (the first occurrence's item wins) followed by the corpus entries not
already present; each distinct item is encoded once however many rows mention it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...types import InputError, Item
from ..data import EvalData, RowsBuilder, SkippedRow
from .metrics import published_pairing

log = logging.getLogger(__name__)


@dataclass
class RankData:
    """What a V2 task ranks; `candidates` None means every query ranks the whole pool (global)."""

    task: str
    items: list[Item]
    query_ids: np.ndarray  # (rows,) item ids
    pool_items: np.ndarray  # (pool,) item ids
    pool_keys: list[str]
    labels: list[np.ndarray]  # per row: pool indices
    grades: list[np.ndarray] | None  # per row, aligned with labels; None = binary relevance
    published_grades: list[np.ndarray] | None  # the grades as the published code pairs them (spec §4)
    candidates: list[np.ndarray] | None
    rows_total: int
    occurrences: int
    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.query_ids)

    @property
    def protocol(self) -> str:
        return "local" if self.candidates is not None else "global"


def _missing_path(item: Item) -> str | None:
    """The first image file / frame folder / video file of `item` that does not exist."""
    for value, kind in ((item.image, "image"), (item.video, "video")):
        if isinstance(value, (str, Path)) and value != "" and not Path(value).exists():
            return f"{kind} {value}"
    return None


class PoolBuilder:
    """Collects rows into a `RankData`; a missing image/frame folder is an error naming the row
    (or, with `skip_missing`, the row is dropped and counted)."""

    def __init__(self, task: str, *, local: bool, skip_missing: bool = False) -> None:
        self.task, self.local, self.skip_missing = task, local, skip_missing
        self._items = RowsBuilder(task)
        self.pool_items: list[int] = []
        self.pool_keys: list[str] = []
        self._pool: dict[str, int] = {}
        self.query_ids: list[int] = []
        self.labels: list[list[str]] = []
        self.grades: list[list[float]] = []
        self.candidates: list[list[str]] = []
        self.skipped: list[SkippedRow] = []
        self.rows_total = 0
        self.occurrences = 0
        self.graded = False
        self.notes: list[str] = []

    def candidate(self, key: str, item: Item) -> int:
        """Pool index of `key`, adding `item` the first time the key is seen."""
        key = str(key)
        found = self._pool.get(key)
        if found is None:
            found = self._pool[key] = len(self.pool_keys)
            self.pool_keys.append(key)
            self.pool_items.append(self._items.item_id(item))
        return found

    def add(
        self,
        row: int,
        query: Item,
        labels: list[str],
        *,
        candidates: list[tuple[str, Item]] | None = None,
        grades: list[float] | None = None,
    ) -> bool:
        """One query: its label keys (and grades), and its candidates (key, item) in list order."""
        self.rows_total += 1
        cands = candidates or []
        if self.local and not cands:
            raise InputError(f"task {self.task}: row {row}: the row has no candidates")
        keys = [str(k) for k, _ in cands]
        if self.local and not set(map(str, labels)) & set(keys):
            raise InputError(f"task {self.task}: row {row}: none of its labels {labels[:3]} is among its candidates")
        for it in [query] + [c for _, c in cands]:
            missing = _missing_path(it)
            if missing is not None:
                if not self.skip_missing:
                    raise InputError(
                        f"task {self.task}: row {row}: {missing} not found (check --image-dir, or pass "
                        "--skip-missing to drop such rows and count them)"
                    )
                self.skipped.append(SkippedRow(row, missing))
                return False
        self.occurrences += 1 + len(cands)
        self.query_ids.append(self._items.item_id(query))
        for key, item in cands:
            self.candidate(key, item)
        self.candidates.append(list(dict.fromkeys(keys)))
        self.labels.append([str(key) for key in labels])
        if grades is not None:
            self.graded = True
        self.grades.append([float(g) for g in grades] if grades is not None else [1.0] * len(labels))
        return True

    def build(self) -> RankData:
        if self.skipped:
            log.warning(
                "task %s: skipped %d of %d rows with missing media (first: row %d, %s)",
                self.task,
                len(self.skipped),
                self.rows_total,
                self.skipped[0].row,
                self.skipped[0].path,
            )
        if not self.query_ids:
            raise InputError(f"task {self.task}: no usable rows (read {self.rows_total}, skipped {len(self.skipped)})")
        pool = self._pool
        labels = [np.asarray([pool.get(k, -1) for k in ls], dtype=np.int64) for ls in self.labels]
        absent = sum(int((ids < 0).sum()) for ids in labels)
        if absent:
            self.notes.append(f"{absent} labels are not in the pool (never retrievable; counted as misses)")
        return RankData(
            task=self.task,
            items=self._items.items,
            query_ids=np.asarray(self.query_ids, dtype=np.int64),
            pool_items=np.asarray(self.pool_items, dtype=np.int64),
            pool_keys=self.pool_keys,
            labels=labels,
            grades=[np.asarray(g) for g in self.grades] if self.graded else None,
            published_grades=[
                np.asarray([published_pairing(ls, gs)[key] for key in ls]) for ls, gs in zip(self.labels, self.grades)
            ]
            if self.graded
            else None,
            candidates=[np.asarray([pool[k] for k in c], dtype=np.int64) for c in self.candidates]
            if self.local
            else None,
            rows_total=self.rows_total,
            occurrences=self.occurrences,
            skipped=self.skipped,
            notes=self.notes,
        )


def from_eval_data(data: EvalData) -> RankData:
    """A V1-style task (per-row candidate lists, one positive) as a local `RankData`; pool keys
    are item ids (VLM2Vec keys image tasks by candidate text / path)."""
    row = data.rankings["row"]
    cand = [c[c >= 0] for c in row.candidate_ids]
    used = np.unique(np.concatenate(cand))
    index = {int(i): p for p, i in enumerate(used.tolist())}
    keys = [_item_key(data.items[i]) for i in used.tolist()]
    return RankData(
        task=data.task,
        items=data.items,
        query_ids=data.query_ids,
        pool_items=used,
        pool_keys=keys,
        labels=[np.asarray([index[int(c[p])]]) for c, p in zip(row.candidate_ids, row.positive)],
        grades=None,
        published_grades=None,
        candidates=[np.asarray([index[int(i)] for i in c]) for c in cand],
        rows_total=data.rows_total,
        occurrences=data.occurrences,
        skipped=data.skipped,
    )


def _item_key(item: Item) -> str:
    """VLM2Vec's candidate key for image tasks: the image path (+ ':' + text when both), else the text."""
    image = item.image if isinstance(item.image, (str, Path)) else None
    if image:
        return f"{image}:{(item.text or '').strip()}" if item.text else str(image)
    return item.text or ""
