"""Similar images for the target side: embed the pool once (cached), search it with faiss.

The positive image is drawn from the anchor's top ranks and the hard negative from a lower
rank band; the anchor itself is never returned, exact duplicates were removed from the pool by
content hash, and neighbours at `neighbours.max_similarity` or above (re-saved copies: same
pixels, other bytes) are skipped, so neither can be a copy of the query image.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..config import ConfigError
from ..types import InputError, load_image
from .config import NeighbourConfig
from .pool import ImagePool

log = logging.getLogger(__name__)


class ImageEncoder(Protocol):
    """Maps image files to L2-normalised vectors, shape (n, dim), float32."""

    def fingerprint(self) -> str: ...

    def encode(self, paths: Sequence[Path]) -> np.ndarray: ...


class EmbedderEncoder:
    """The project's Embedder (mmE5 image-side convention: `NeighbourConfig.instruction`)."""

    def __init__(self, config: NeighbourConfig, embedder=None) -> None:
        self.config = config
        self._embedder = embedder

    @property
    def embedder(self):
        if self._embedder is None:
            from ..model.embedder import load_embedder

            if self.config.model is None:
                log.warning(
                    "neighbours.model is not set: using the embedded tiny model (random weights); "
                    "neighbours will not be semantically meaningful"
                )
            self._embedder = load_embedder(self.config.model, device=self.config.device)
        return self._embedder

    def fingerprint(self) -> str:
        return f"embedder-{self.embedder.fingerprint}-{_short(self.config.instruction)}"

    def encode(self, paths: Sequence[Path]) -> np.ndarray:
        from ..types import Item

        items = [Item(image=str(p), instruction=self.config.instruction) for p in paths]
        return self.embedder.encode(items, batch_size=self.config.batch_size)


class PixelEncoder:
    """An 8x8 colour layout per image (192 numbers, centred, L2-normalised): no model needed,
    finds images of similar colours and composition. For offline smoke runs and tests."""

    SIDE = 8

    def __init__(self, config: NeighbourConfig | None = None) -> None:
        pass

    def fingerprint(self) -> str:
        return f"pixels-{self.SIDE}"

    def encode(self, paths: Sequence[Path]) -> np.ndarray:
        rows = [
            np.asarray(load_image(p, str(p)).resize((self.SIDE, self.SIDE)), dtype=np.float32).ravel() for p in paths
        ]
        x = np.stack(rows) / 255.0
        x -= x.mean(axis=1, keepdims=True)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
        return x.astype(np.float32)


ENCODERS: Mapping[str, Callable[..., ImageEncoder]] = {"embedder": EmbedderEncoder, "pixels": PixelEncoder}


def make_encoder(config: NeighbourConfig, embedder=None) -> ImageEncoder:
    if config.encoder not in ENCODERS:
        raise ConfigError(f"neighbours.encoder: unknown {config.encoder!r}; choose one of {sorted(ENCODERS)}")
    if config.encoder == "embedder":
        return EmbedderEncoder(config, embedder)
    return ENCODERS[config.encoder](config)


def embed_pool(pool: ImagePool, encoder: ImageEncoder, cache_dir: str | Path, chunk: int = 1024) -> np.ndarray:
    """(len(pool), dim) vectors, cached per (encoder, pool) in `cache_dir`. Unreadable images
    are removed from `pool` (logged by path) so every pool entry has a vector."""
    cache = Path(cache_dir) / f"embeddings-{_short(encoder.fingerprint())}-{pool.fingerprint()}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            keep = set(stored["sha1"].tolist())
            pool.images = [img for img in pool.images if img.sha1 in keep]
            return stored["vectors"]
    kept, parts = [], []
    for start in range(0, len(pool), chunk):
        batch = pool.images[start : start + chunk]
        try:
            parts.append(encoder.encode([img.path for img in batch]))
            kept += batch
        except InputError:  # find the unreadable file(s) in this chunk, keep the rest
            for img in batch:
                try:
                    parts.append(encoder.encode([img.path]))
                    kept.append(img)
                except InputError as exc:
                    log.warning("pool: skipping unreadable image: %s", exc)
    if not kept:
        raise InputError("no readable image in the pool")
    pool.images = kept
    vectors = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=vectors, sha1=np.array([img.sha1 for img in kept]))
    tmp.replace(cache)
    return vectors


class NeighbourIndex:
    """Exact inner-product search (faiss IndexFlatIP) over L2-normalised pool vectors.

    Neighbours at `max_similarity` or above are skipped: a re-saved copy (same pixels, other
    bytes) escapes the pool's hash check but not this one. None: no similarity check."""

    def __init__(self, vectors: np.ndarray, max_similarity: float | None = None) -> None:
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it logs every CPU-feature probe
        import faiss

        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index = faiss.IndexFlatIP(self.vectors.shape[1])
        self.index.add(self.vectors)
        self.max_similarity = np.inf if max_similarity is None else max_similarity

    def __len__(self) -> int:
        return self.index.ntotal

    def ranked(self, anchors: Sequence[int], depth: int) -> list[list[int]]:
        """For each anchor, the `depth` most similar other pool entries, best first."""
        if depth >= len(self):
            raise ConfigError(f"need {depth} neighbours but the pool has only {len(self)} images")
        queries = self.vectors[np.asarray(anchors, dtype=np.int64)]
        k = depth + 1
        while True:  # search deeper while near-copies crowd out the `depth` wanted
            sims, ids = self.index.search(queries, k)
            out = [
                [int(i) for s, i in zip(srow, row) if i != anchor and i >= 0 and s < self.max_similarity][:depth]
                for anchor, srow, row in zip(anchors, sims, ids)
            ]
            short = [(a, len(o)) for a, o in zip(anchors, out) if len(o) < depth]
            if not short:
                return out
            if k == len(self):
                anchor, found = short[0]
                raise InputError(
                    f"pool image {anchor} has only {found} images below neighbours.max_similarity "
                    f"{self.max_similarity} but neighbours.negative_ranks needs {depth}"
                )
            k = min(len(self), 2 * k)


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
