"""Vector shards: the corpus cut into fixed item ranges, each written once as parquet
(row, id, vector, item, meta) to a temporary name and renamed into place.

The ranges depend only on the corpus size and the shard size, so a restarted build (any engine)
finds the shards already written, skips them, and ends with every item exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import write_json

log = logging.getLogger(__name__)
SHARDS_DIR = "shards"


@dataclass(frozen=True)
class Shard:
    """Items [start, end) of the corpus."""

    number: int
    start: int
    end: int

    @property
    def name(self) -> str:
        return f"shard-{self.number:06d}.parquet"


def plan_shards(count: int, shard_size: int) -> list[Shard]:
    """Fixed ranges of `shard_size` items (the last may be shorter)."""
    if shard_size < 1:
        raise ValueError(f"shard size must be >= 1, got {shard_size}")
    return [Shard(n, s, min(s + shard_size, count)) for n, s in enumerate(range(0, count, shard_size))]


class ShardStore:
    """`<out>/shards/`: kept across runs only while model, corpus and shard size stay the same."""

    def __init__(self, out: Path, state: dict[str, Any]) -> None:
        self.dir = Path(out) / SHARDS_DIR
        state_file = self.dir / "state.json"
        if self.dir.is_dir():
            try:
                previous = json.loads(state_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                previous = None
            if previous != state:
                log.info("discarding vector shards in %s (model, corpus or shard size changed)", self.dir)
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not state_file.is_file():
            write_json(state_file, state)

    def path(self, shard: Shard) -> Path:
        return self.dir / shard.name

    def done(self, shard: Shard) -> bool:
        return self.path(shard).is_file()

    def pending(self, shards: list[Shard]) -> list[Shard]:
        return [s for s in shards if not self.done(s)]

    def write(
        self,
        shard: Shard,
        rows: np.ndarray,
        vectors: np.ndarray,
        records: list[dict[str, Any]],
        complete: bool = True,
    ) -> Path:
        """Write one shard atomically; rows must be exactly shard.start .. shard.end - 1, or, with
        `complete=False` (`--skip-bad`: bad items left out), an increasing subset of them."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = np.asarray(rows, dtype=np.int64)
        everything = np.arange(shard.start, shard.end)
        if complete and not np.array_equal(rows, everything):
            raise RuntimeError(f"{shard.name}: rows do not cover items {shard.start}..{shard.end - 1} exactly once")
        if not complete and (np.any(np.diff(rows) <= 0) or not np.isin(rows, everything).all()):
            raise RuntimeError(f"{shard.name}: rows are not an increasing subset of {shard.start}..{shard.end - 1}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        table = pa.table(
            {
                "row": pa.array(rows),
                "id": pa.array([r["id"] for r in records], pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
                "item": pa.array([json.dumps(r["item"], ensure_ascii=False) for r in records]),
                "meta": pa.array([json.dumps(r["meta"], ensure_ascii=False) for r in records]),
            }
        )
        final = self.path(shard)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        tmp.replace(final)
        return final


def read_shard(path: Path, columns: list[str] | None = None) -> Any:
    """One shard as a pyarrow table."""
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=columns)


def shard_vectors(table: Any) -> np.ndarray:
    """The `vector` column of a shard table -> (n, dim) float32."""
    column = table.column("vector").combine_chunks()
    dim = column.type.list_size
    return column.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)


def shard_size(path: Path) -> int:
    """Rows a written shard holds (from its footer; fewer than its range when bad items were skipped)."""
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def iter_vectors(store: ShardStore, shards: list[Shard]) -> Iterator[np.ndarray]:
    """(n_i, dim) vectors of each shard, in corpus order."""
    for shard in shards:
        yield shard_vectors(read_shard(store.path(shard), ["vector"]))
