"""A memory-capped cache of processor outputs for image items (`data.image_cache_mb`).

Training revisits every image once per epoch, and running the image processor on it again gives
the same tensors each time. The cache keeps, per image item, the tensors of that item prepared
ALONE (no padding from batch neighbours). A batch whose items are all cached and whose rows agree
in every tensor shape is their concatenation: the processor pads nothing in such a batch, so
concatenating equals preparing it anew (tested). Anything else (a miss that cannot be stored, rows
of different lengths or tile counts) is prepared as usual, so the cache never changes a vector.

Backbones whose tensors are not one row per item (Qwen2-VL's flat patch list) cannot be sliced
per item: the cache notices on the first item and switches itself off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..model.embedder import Prepared
from ..types import Item

log = logging.getLogger(__name__)

Prepare = Callable[..., Prepared]
Key = tuple[str, str, str]


def cache_key(item: Item) -> Key | None:
    """(text, instruction, image path) of an item whose image is a file path, else None (uncached)."""
    if not isinstance(item.image, (str, Path)) or item.image == "":
        return None
    return (item.text or "", item.instruction or "", str(item.image))


class PreparedCache:
    """Per-item processor outputs up to `max_bytes`; `prepare(items, where, fn)` serves batches."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.rows: dict[Key, dict[str, torch.Tensor]] = {}
        self.bytes = 0
        self.enabled = max_bytes > 0
        self.full = False
        self.hits = 0
        self.misses = 0

    def prepare(self, items: Sequence[Item], where: Sequence[str] | None, fn: Prepare) -> Prepared:
        """`fn(items, where=where)`, or the same Prepared assembled from cached rows."""
        keys = [cache_key(item) for item in items] if self.enabled and items else []
        if not keys or any(k is None for k in keys):
            return fn(items, where=where)
        missing = [i for i, k in enumerate(keys) if k not in self.rows]
        if missing and self.full:
            return fn(items, where=where)
        for i in missing:
            self._store(keys[i], fn([items[i]], where=[where[i]] if where else None))  # type: ignore[arg-type]
            if not self.enabled:
                return fn(items, where=where)
        rows = [self.rows.get(k) for k in keys]  # type: ignore[arg-type]
        if any(r is None for r in rows) or not _same_shapes(rows):  # type: ignore[arg-type]
            return fn(items, where=where)
        self.hits += len(items) - len(missing)
        self.misses += len(missing)
        names = rows[0].keys()  # type: ignore[union-attr]
        tensors = {name: torch.cat([r[name] for r in rows]) for name in names}  # type: ignore[index]
        return Prepared(parts=[(list(range(len(items))), tensors)], size=len(items), truncated=0)

    def _store(self, key: Key, prepared: Prepared) -> None:
        """Keep one item's tensors, unless they are not one row per item or the cache is full."""
        if len(prepared.parts) != 1 or prepared.parts[0][0] != [0] or prepared.truncated:
            return  # a truncated item is prepared anew each time, so the truncation count stays right
        tensors = prepared.parts[0][1]
        if any(not torch.is_tensor(v) or v.dim() == 0 or v.shape[0] != 1 for v in tensors.values()):
            log.info("image cache off: this backbone's processor outputs are not one row per item")
            self.enabled = False
            return
        size = sum(v.nbytes for v in tensors.values())
        if self.bytes + size > self.max_bytes:
            self.full = True
            log.info("image cache full at %d items (%d MiB)", len(self.rows), self.bytes >> 20)
            return  # full: cached rows keep serving, new items are prepared per batch
        self.rows[key] = {k: v.clone() for k, v in tensors.items()}
        self.bytes += size


def _same_shapes(rows: list[dict[str, torch.Tensor]]) -> bool:
    first = rows[0]
    return all(r.keys() == first.keys() and all(r[k].shape == first[k].shape for k in first) for r in rows[1:])
