"""`data.image_cache_mb`: batches assembled from cached per-item processor outputs equal preparing
them anew (same vectors), the cap and unsliceable backbones fall back, and the collator with the
cache produces the same chunks as without it."""
from __future__ import annotations

import torch

from mme5.data.collate import ContrastiveCollator
from mme5.data.emoji import load_pack
from mme5.data.prepared_cache import PreparedCache
from mme5.prompts import REPRESENT_IMAGE
from mme5.types import ContrastiveExample, Item


def _image_items(tmp_path, n: int = 12) -> list[Item]:
    records = load_pack().records[:n]
    items = []
    for r in records:
        path = tmp_path / f"{r.id}.png"
        r.image.save(path)
        items.append(Item(image=str(path), instruction=REPRESENT_IMAGE))
    return items


def test_cached_batches_equal_fresh_preparation(tiny_embedder, tmp_path):
    emb = tiny_embedder("mllama")
    items = _image_items(tmp_path)
    cache = PreparedCache(1 << 30)
    calls = []

    def prepare(batch, where=None):
        calls.append(len(batch))
        return emb.prepare(batch, where)

    with torch.no_grad():
        for batch in ([0, 1, 2, 3], [4, 5, 0, 6], [7, 2, 5, 1, 9], [3, 1, 0]):
            chosen = [items[i] for i in batch]
            fresh = emb.forward(emb.prepare(chosen))
            served = cache.prepare(chosen, None, prepare)
            assert torch.equal(emb.forward(served), fresh)
    assert len(cache.rows) == 9 and cache.hits == 7  # 0; 2, 5, 1; 3, 1, 0 came from the cache
    assert calls == [1] * 9  # each image was processed once (alone), never again


def test_cap_text_items_and_unsliceable_backbones_fall_back(tiny_embedder, tmp_path):
    items = _image_items(tmp_path, 4)
    emb = tiny_embedder("mllama")
    full = PreparedCache(0)
    assert full.prepare(items, None, emb.prepare).size == 4 and not full.rows
    texts = PreparedCache(1 << 30)
    assert texts.prepare([Item(text="a cat"), Item(text="a dog")], None, emb.prepare).size == 2
    assert not texts.rows  # only image items are cached
    qwen = tiny_embedder("qwen2_vl")
    cache = PreparedCache(1 << 30)
    with torch.no_grad():
        served = cache.prepare(items, None, qwen.prepare)
        assert torch.equal(qwen.forward(served), qwen.forward(qwen.prepare(items)))
    assert not cache.enabled and not cache.rows  # Qwen's flat patch list is not one row per item


def test_collator_chunks_are_the_same_with_the_cache(tiny_embedder, tmp_path):
    emb = tiny_embedder("mllama")
    images = _image_items(tmp_path, 8)
    examples = [ContrastiveExample(query=Item(text=f"name {i}"), positive=images[i], hard_negatives=(images[(i + 1) % 8],))
                for i in range(8)]
    wheres = [f"row {i}" for i in range(8)]
    plain = ContrastiveCollator(emb, examples, wheres, negative_ratio=1)
    cached = ContrastiveCollator(emb, examples, wheres, negative_ratio=1, image_cache_bytes=1 << 30)
    for batch in ([0, 1, 2, 3], [4, 5, 6, 7], [1, 3, 5, 7]):
        a, b = plain([batch])["chunks"][0], cached([batch])["chunks"][0]
        for pa, pb in zip(a.prepared(), b.prepared()):
            assert len(pa.parts) == len(pb.parts)
            for (rows_a, ta), (rows_b, tb) in zip(pa.parts, pb.parts):
                assert rows_a == rows_b and ta.keys() == tb.keys()
                assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert cached.cache.hits > 0
