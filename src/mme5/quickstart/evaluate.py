"""Text -> image retrieval on the held-out splits: tie-aware Recall@1/@10 per language.

Every image and query is encoded once per model through `Embedder.encode`, the same path
evaluation and serving use; ranks come from the evaluation harness (`mme5.evaluation.metrics`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ..data.emoji import EmojiSet
from ..evaluation.metrics import ranks_from_scores
from ..types import Item
from .splits import RetrievalSplit

KS = (1, 10)


class Encoder(Protocol):
    """What evaluation needs of a model: `Embedder.encode` (items -> (n, dim) L2-normalised)."""

    def encode(self, items: Sequence[Item], batch_size: int = ...) -> np.ndarray: ...


def recall_at(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose positive is within the top `k`."""
    return float((ranks <= k).mean()) if len(ranks) else 0.0


def chance_recall(k: int, gallery: int) -> float:
    """Expected Recall@k of a random ranking with one positive among `gallery` candidates."""
    return min(k, gallery) / gallery


@dataclass(frozen=True)
class Instructions:
    """The instruction each side is encoded with (None = bare text / image)."""

    query: str | None = None
    image: str | None = None


def encode_images(embedder: Encoder, data: EmojiSet, indices: Sequence[int], ins: Instructions, batch_size: int) -> np.ndarray:
    """(len(indices), dim) image embeddings."""
    items = [Item(image=data.records[i].image, instruction=ins.image) for i in indices]
    return embedder.encode(items, batch_size=batch_size)


def evaluate_split(
    embedder: Encoder,
    data: EmojiSet,
    split: RetrievalSplit,
    ins: Instructions,
    *,
    batch_size: int = 256,
    image_vectors: dict[int, np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Per language: n queries, gallery size, R@1 and R@10 (tie-aware), chance R@1 and R@10.

    `image_vectors` (image index -> vector) lets two splits share one pass over the images.
    """
    gallery = list(split.gallery)
    if image_vectors is None:
        g = encode_images(embedder, data, gallery, ins, batch_size)
    else:
        g = np.stack([image_vectors[i] for i in gallery])
    column = {img: c for c, img in enumerate(gallery)}
    out: dict[str, dict[str, float]] = {}
    for lang, pairs in split.queries.items():
        if not pairs:
            continue
        q = embedder.encode([Item(text=p.text, instruction=ins.query, language=lang) for p in pairs], batch_size=batch_size)
        # tie-aware: the positive ranks below every candidate scoring >= it, so a model that
        # embeds every image alike ranks last instead of first
        ranks = ranks_from_scores(q @ g.T, np.array([column[p.image] for p in pairs])).tie_aware
        row = {"queries": len(pairs), "gallery": len(gallery)}
        for k in KS:
            row[f"R@{k}"] = recall_at(ranks, k)
            row[f"chance_R@{k}"] = chance_recall(k, len(gallery))
        row["mean_rank"] = float(ranks.mean())
        out[lang] = row
    return out


def evaluate_all(embedder: Encoder, data: EmojiSet, splits: Sequence[RetrievalSplit], ins: Instructions, batch_size: int = 256) -> dict:
    """{split name: per-language metrics}; images shared by splits are encoded once."""
    needed = sorted({i for s in splits for i in s.gallery})
    vectors = encode_images(embedder, data, needed, ins, batch_size)
    by_index = dict(zip(needed, vectors))
    return {s.name: evaluate_split(embedder, data, s, ins, batch_size=batch_size, image_vectors=by_index) for s in splits}


def learning_check(trained: dict, untrained: dict, factor: float, min_languages: int) -> dict:
    """Per split, the languages where trained R@10 >= factor x max(chance, untrained) R@10."""
    result = {}
    for split, langs in trained.items():
        passed = [
            lang for lang, m in langs.items()
            if m["R@10"] >= factor * max(m["chance_R@10"], untrained[split][lang]["R@10"])
        ]
        result[split] = {"languages_passed": passed, "passed": len(passed) >= min_languages}
    result["passed"] = all(v["passed"] for v in result.values())
    result["rule"] = f"R@10 >= {factor:g} x max(chance, untrained) in >= {min_languages} languages, on every split"
    return result
