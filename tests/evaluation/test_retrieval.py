"""The Python API for text -> image retrieval over a gallery (used by the quickstart)."""
from __future__ import annotations

import numpy as np
import pytest

from mme5.evaluation.cache import EmbeddingCache
from mme5.evaluation.retrieval import gallery_retrieval, pairs_retrieval
from mme5.prompts import XTD_IMAGE_TARGET as IMAGE_TARGET_TEXT
from mme5.prompts import XTD_QUERY_INSTRUCTION as QUERY_INSTRUCTION
from mme5.types import InputError, Item

from .conftest import write_images


def test_pairs_retrieval_matches_an_independent_computation(tiny_embedder, tmp_path, monkeypatch):
    embedder = tiny_embedder("mllama")
    images = [str(tmp_path / p) for p in write_images(tmp_path / "imgs", 6, seed=3)]
    words = ["cat", "dog", "apple", "car", "tree", "boat"]
    german = ["Katze", "Hund", "Apfel", "Auto", "Baum", "Boot"]
    pairs = [(f"a {w}", "en", img) for w, img in zip(words, images)] + [(f"ein {w}", "de", img) for w, img in zip(german, images)]
    cache = EmbeddingCache(tmp_path / "cache", embedder.fingerprint)
    result = pairs_retrieval(embedder, pairs, ks=(1, 3), cache=cache)
    assert (result.n_queries, result.n_gallery) == (12, 6) and sorted(result.per_language) == ["de", "en"]

    gallery = embedder.encode([Item(text=IMAGE_TARGET_TEXT, image=img) for img in images])
    queries = embedder.encode([Item(text=c, instruction=QUERY_INSTRUCTION) for c, _, _ in pairs])
    scores = queries @ gallery.T
    positive = np.array([i % 6 for i in range(12)])
    own = scores[np.arange(12), positive][:, None]
    others = np.ones_like(scores, dtype=bool)
    others[np.arange(12), positive] = False
    pessimistic = 1 + ((scores >= own - 1e-6) & others).sum(1)
    for k in (1, 3):
        assert result.overall["tie_aware"][f"recall@{k}"] == pytest.approx(100 * np.mean(pessimistic <= k))
        assert result.per_language["de"]["tie_aware"][f"recall@{k}"] == pytest.approx(100 * np.mean(pessimistic[6:] <= k))
    assert result.overall["original"]["recall@3"] >= result.overall["tie_aware"]["recall@3"]

    calls = []
    monkeypatch.setattr(embedder, "forward", lambda prepared: calls.append(prepared) or None)
    again = pairs_retrieval(embedder, pairs, ks=(1, 3), cache=cache)  # every item comes from the cache
    assert calls == [] and again.overall == result.overall


def test_gallery_retrieval_rejects_inconsistent_input(tiny_embedder, tmp_path):
    embedder = tiny_embedder("mllama")
    images = [str(tmp_path / p) for p in write_images(tmp_path / "imgs", 2)]
    with pytest.raises(InputError, match="2 queries but 1 positives"):
        gallery_retrieval(embedder, ["a", "b"], images, [0])
    with pytest.raises(InputError, match="query 1: positive index 5 is outside the gallery of 2 images"):
        gallery_retrieval(embedder, ["a", "b"], images, [0, 5])
