"""Atomic shard commits and crash recovery.

Kept samples go to `data/shard-NNNNNN.<fmt>`, failures to `failed/shard-NNNNNN.jsonl`. A
shard is written to a temporary file, flushed to disk and renamed, so it exists completely or
not at all. On start, the committed shards say which plan indices are done; anything that
was only buffered when the process died is simply made again (same plan, same id).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .stats import Stats


@dataclass
class Recovered:
    done: set[int] = field(default_factory=set)
    dedup_keys: set[str] = field(default_factory=set)
    stats: Stats = field(default_factory=Stats)


class ShardWriter:
    def __init__(
        self,
        out_dir: str | Path,
        *,
        format: Literal["jsonl", "parquet"] = "jsonl",
        shard_size: int = 1000,
        commit_every_s: float = 30.0,
    ) -> None:
        self.out = Path(out_dir)
        self.format = format
        self.shard_size = shard_size
        self.commit_every_s = commit_every_s
        self.data_dir = self.out / "data"
        self.failed_dir = self.out / "failed"
        self.rows: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.committed = Stats()
        self._last_commit = time.monotonic()

    # ---- recovery --------------------------------------------------------------------
    def recover(self) -> Recovered:
        """Scan committed shards (removing temp files a kill left behind)."""
        state = Recovered()
        for folder in (self.data_dir, self.failed_dir):
            folder.mkdir(parents=True, exist_ok=True)
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink()
        ids: set[str] = set()
        for failed, rows in ((False, self.read(self.data_dir)), (True, self.read(self.failed_dir))):
            for path, row in rows:
                if row["id"] in ids:
                    raise RuntimeError(
                        f"{path}: sample {row['id']} is committed twice; the output folder was "
                        "edited or shared by two runs"
                    )
                ids.add(row["id"])
                state.done.add(int(row["plan_index"]))
                if not failed:
                    state.dedup_keys.update(k for k in (row["dedup_key"], row.get("text_key")) if k)
                state.stats.add(row, failed)
        self.committed = state.stats
        return state

    def read(self, folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Rows of every committed shard in a folder, in shard order."""
        for path in sorted(folder.glob("shard-*")):
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                for row in pq.read_table(path).to_pylist():
                    yield path, row
            else:
                with path.open(encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            yield path, json.loads(line)

    # ---- writing ---------------------------------------------------------------------
    def add(self, row: dict[str, Any], *, failed: bool) -> None:
        (self.failures if failed else self.rows).append(row)

    def pending(self) -> int:
        return len(self.rows) + len(self.failures)

    def maybe_commit(self) -> bool:
        """Commit when a shard is full or `commit_every_s` passed since the last commit."""
        due = time.monotonic() - self._last_commit >= self.commit_every_s
        if len(self.rows) >= self.shard_size or len(self.failures) >= self.shard_size or (due and self.pending()):
            self.commit()
            return True
        return False

    def commit(self) -> None:
        """Write the buffered rows as new shards (atomically) and fold them into the stats."""
        if self.rows:
            self._write(self.data_dir, self.rows, self.format)
            for row in self.rows:
                self.committed.add(row, failed=False)
            self.rows = []
        if self.failures:
            self._write(self.failed_dir, self.failures, "jsonl")
            for row in self.failures:
                self.committed.add(row, failed=True)
            self.failures = []
        self._last_commit = time.monotonic()

    def _write(self, folder: Path, rows: list[dict[str, Any]], fmt: str) -> Path:
        numbers = [int(p.name.split("-")[1].split(".")[0]) for p in folder.glob("shard-*")]
        path = folder / f"shard-{max(numbers, default=-1) + 1:06d}.{fmt}"
        tmp = folder / f".{path.name}.tmp"
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
        else:
            with tmp.open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        tmp.replace(path)
        return path
