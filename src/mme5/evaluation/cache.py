"""On-disk embedding cache, so re-runs and overlapping tasks never encode an item twice.

Layout: `ROOT/<model fingerprint>/<shard>.keys.npy` + `<shard>.vecs.npy`. The fingerprint covers
weights, adapter, dtype, max_length and the formatting version; the item key covers text,
instruction and image (resolved path + size + mtime, or a hash of the bytes / pixels). Shards
are append-only and written atomically (vectors first, keys last), so a killed run leaves no
half-shard and several runs may share a cache. Plain .npy files: no pickle.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import numpy as np

from ..paths import cache_root
from ..types import Item

KEY_BYTES = 32  # hex characters kept from sha256


def default_cache_root() -> Path:
    """`$MME5_CACHE/embeddings` (default `~/.cache/mme5/embeddings`)."""
    return cache_root() / "embeddings"


def item_key(item: Item) -> str:
    """A stable id for what the encoder sees of `item` (the language tag does not change it)."""
    image_key = _media_key(item.image)
    parts = [item.text or "", item.instruction or "", image_key]
    if item.has_video:  # frames: one key each; a folder: its frame files; a file: path/bytes
        video = item.video
        if isinstance(video, tuple):
            parts.append(["video", [_media_key(f) for f in video]])
        elif isinstance(video, (str, Path)) and Path(video).is_dir():
            from ..media import frame_files

            parts.append(["video-dir", [_media_key(f) for f in frame_files(video)]])
        else:
            parts.append(["video", _media_key(video)])
    if item.pdf is not None:
        parts.append(["pdf", _media_key(item.pdf), item.page])
    raw = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:KEY_BYTES]


def _media_key(image) -> list | None:
    """Path + size + mtime, a hash of the bytes, or a hash of the pixels."""
    if image is None or image == "":
        return None
    if isinstance(image, (bytes, bytearray)):
        return ["sha1", hashlib.sha1(image).hexdigest()]
    if isinstance(image, (str, Path)):
        path = Path(image)
        stat = path.stat() if path.is_file() else None
        return [str(path.resolve()), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1]
    return ["pixels", image.mode, list(image.size), hashlib.sha1(image.tobytes()).hexdigest()]


class EmbeddingCache:
    """Vectors of one model, looked up by item key."""

    def __init__(self, root: str | Path, fingerprint: str) -> None:
        if not fingerprint:
            raise ValueError("an embedding cache needs the model fingerprint (Embedder.fingerprint)")
        self.dir = Path(root) / fingerprint
        self._index: dict[bytes, tuple[str, int]] = {}
        self._shards: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    def get(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """(found mask (n,), vectors (found, dim) in key order, or None when nothing is found)."""
        self._refresh()
        hits = [self._index.get(k.encode("ascii")) for k in keys]
        found = np.array([h is not None for h in hits], dtype=bool)
        if not found.any():
            return found, None
        return found, np.stack([self._shards[h[0]][h[1]] for h in hits if h is not None])

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        """Store (n, dim) float32 vectors for `keys` as one new shard."""
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        if not keys:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex[:16]
        _save_atomic(self.dir / f"{name}.vecs.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        _save_atomic(self.dir / f"{name}.keys.npy", np.array([k.encode("ascii") for k in keys], dtype=f"S{KEY_BYTES}"))

    def _refresh(self) -> None:
        """Index shards written since the last look (by this or another process)."""
        if not self.dir.is_dir():
            return
        for keys_file in sorted(self.dir.glob("*.keys.npy")):
            shard = keys_file.name[: -len(".keys.npy")]
            if shard in self._shards:
                continue
            keys = np.load(keys_file, allow_pickle=False)
            self._shards[shard] = np.load(self.dir / f"{shard}.vecs.npy", mmap_mode="r", allow_pickle=False)
            for row, key in enumerate(keys.tolist()):
                self._index.setdefault(key, (shard, row))


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)
    tmp.replace(path)
