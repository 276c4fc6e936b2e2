"""Text -> image retrieval over a gallery, as a Python call (the quickstart's evaluation).

    from mme5.evaluation.retrieval import gallery_retrieval, pairs_retrieval
    result = pairs_retrieval(embedder, [("a red apple", "en", "img/apple.png"), ...], ks=(1, 10))
    result.overall["tie_aware"]["recall@10"], result.per_language["de"]["tie_aware"]["recall@1"]

Every query is ranked against the whole gallery (CLIP-style protocol). Each distinct query and
image is encoded once; with `cache=` an `EmbeddingCache` is reused across calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..prompts import XTD_IMAGE_TARGET, XTD_QUERY_INSTRUCTION
from ..types import Encoder, ImageLike, InputError, Item
from .cache import EmbeddingCache
from .data import RowsBuilder
from .encoding import encode_unique
from .metrics import Ranks, rank_positives, summarize


@dataclass
class GalleryResult:
    """Metrics in percent under both tie rules ("original": first maximum wins; "tie_aware":
    the positive ranks below every equal score), overall and per query language."""

    overall: dict[str, dict[str, float]]
    per_language: dict[str, dict[str, dict[str, float]]]
    n_queries: int
    n_gallery: int
    tied_queries: int
    ranks: Ranks = field(repr=False)


def gallery_retrieval(
    embedder: Encoder,
    queries: Sequence[Item | str],
    gallery_images: Sequence[ImageLike],
    positives: Sequence[int],
    *,
    ks: tuple[int, ...] = (1, 10),
    instruction: str = XTD_QUERY_INSTRUCTION,
    image_text: str = XTD_IMAGE_TARGET,
    batch_size: int = 16,
    cache: EmbeddingCache | None = None,
) -> GalleryResult:
    """Rank every query against all `gallery_images`; `positives[i]` is the gallery index of
    query i's image. Plain-string queries get `instruction` (mmE5's caption -> image wording);
    `Item` queries are used as given (their `language` groups the per-language numbers)."""
    if len(queries) != len(positives):
        raise InputError(f"{len(queries)} queries but {len(positives)} positives; give one gallery index per query")
    if not gallery_images:
        raise InputError("the gallery is empty")
    for i, p in enumerate(positives):
        if not 0 <= int(p) < len(gallery_images):
            raise InputError(f"query {i}: positive index {p} is outside the gallery of {len(gallery_images)} images")
    builder = RowsBuilder("gallery")
    gallery = np.asarray([builder.item_id(Item(text=image_text, image=img)) for img in gallery_images], dtype=np.int64)
    items = [Item(text=q, instruction=instruction) if isinstance(q, str) else q for q in queries]
    query_ids = np.asarray([builder.item_id(q) for q in items], dtype=np.int64)
    vectors, _ = encode_unique(embedder, builder.items, cache=cache, batch_size=batch_size, desc="gallery")
    ranks = rank_positives(
        vectors, query_ids, np.broadcast_to(gallery, (len(items), len(gallery))), np.asarray(positives, dtype=np.int64)
    )
    ndcg_k = max(ks)

    def both(sel: np.ndarray) -> dict[str, dict[str, float]]:
        return {
            "original": summarize(ranks.first[sel], ks, ndcg_k),
            "tie_aware": summarize(ranks.tie_aware[sel], ks, ndcg_k),
        }

    languages = np.asarray([q.language or "" for q in items])
    per_language = {lang: both(languages == lang) for lang in sorted(set(languages.tolist())) if lang}
    return GalleryResult(
        overall=both(np.ones(len(items), dtype=bool)),
        per_language=per_language,
        n_queries=len(items),
        n_gallery=len(gallery_images),
        tied_queries=int(ranks.tied.sum()),
        ranks=ranks,
    )


def pairs_retrieval(
    embedder: Encoder, pairs: Sequence[tuple[str, str | None, ImageLike]], **kwargs: Any
) -> GalleryResult:
    """(caption, language, image) pairs -> `gallery_retrieval` over the distinct images of the
    pairs (a caption's positive is its own image; several captions may share one image)."""
    gallery: list[ImageLike] = []
    index: dict[Any, int] = {}
    positives = []
    queries = []
    instruction = kwargs.pop("instruction", XTD_QUERY_INSTRUCTION)
    for caption, language, image in pairs:
        key = str(image) if not isinstance(image, (bytes, bytearray)) else image
        if key not in index:
            index[key] = len(gallery)
            gallery.append(image)
        positives.append(index[key])
        queries.append(Item(text=caption, instruction=instruction, language=language))
    return gallery_retrieval(embedder, queries, gallery, positives, **kwargs)
