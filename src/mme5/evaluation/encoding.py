"""Encode a list of unique items once: cached vectors are read, the rest go through the model in
chunks (sharded across torchrun ranks) and are cached as each chunk finishes."""

from __future__ import annotations

import numpy as np

from ..types import Encoder, Item
from .cache import EmbeddingCache, item_key
from .distributed import broadcast, is_main, sharded_encode


def encode_unique(
    embedder: Encoder,
    items: list[Item],
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 16,
    chunk_items: int = 1024,
    desc: str = "encode",
) -> tuple[np.ndarray, int]:
    """(n, dim) float32 vectors of `items` (row i = item i) and the number of cache hits.

    Only rank 0 reads and writes the cache; the other ranks follow its list of what to encode.
    """
    from tqdm.auto import tqdm

    keys = [item_key(item) for item in items] if cache is not None else []
    out = np.empty((len(items), embedder.dim), dtype=np.float32)
    found = np.zeros(len(items), dtype=bool)
    if cache is not None:
        cached = None
        if is_main():
            found, cached = cache.get(keys)
        found = broadcast(found)
        if cached is not None:
            out[found] = cached
    # similar items side by side: fewer padding tokens per batch
    todo = sorted(np.flatnonzero(~found).tolist(), key=lambda i: (items[i].has_image, len(items[i].text or "")))
    step = max(1, chunk_items)

    def encode(chunk):
        return embedder.encode(chunk, batch_size=batch_size, show_progress=False)

    with tqdm(total=len(todo), desc=desc, unit="item", disable=not is_main() or len(todo) <= step) as bar:
        for s in range(0, len(todo), step):
            idx = todo[s : s + step]
            vecs = sharded_encode(encode, [items[i] for i in idx], embedder.dim)
            finite = np.isfinite(vecs).all(axis=1)
            if not finite.all():
                raise ValueError(
                    f"{desc}: the model produced NaN/inf embeddings for {int((~finite).sum())} items; "
                    "scores would be meaningless (check the dtype and the weights)"
                )
            out[idx] = vecs
            if cache is not None and is_main():
                cache.put([keys[i] for i in idx], vecs)
            bar.update(len(idx))
    return out, int(found.sum())
