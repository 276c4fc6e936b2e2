"""Content-based model fingerprints: what keys the embedding cache, indexes and served vectors.

Every byte of a folder's config, weight, tokenizer and template files goes in (large files are
hashed once per file version and remembered), plus dtype, max_length and the formatting version,
so any change to what produces the vectors changes the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from ..paths import cache_root
from .formatting import FORMAT_VERSION

log = logging.getLogger(__name__)

HASHED_SUFFIXES = (".json", ".safetensors", ".bin", ".model", ".jinja", ".txt")
MEMO_MIN_BYTES = 1 << 24
"""Files at least this large have their digest remembered under $MME5_CACHE/file-digests."""


def fingerprint_model(name: str | Path, adapter: str | Path | None, dtype: torch.dtype, max_length: int) -> str:
    """Content-based id: every byte of the config, weight, tokenizer and template files (model and adapter),
    dtype and formatting. It keys the embedding cache, so any change to the weights must change it."""
    h = hashlib.sha256()
    h.update(json.dumps([FORMAT_VERSION, str(dtype), max_length]).encode())
    for root in (name, adapter):
        if root is None:
            continue
        p = Path(root)
        if not p.is_dir():  # a hub id: its name and the snapshot (commit) the hub cache resolved to
            h.update(f"{root}@{_hub_snapshot(str(root))}".encode())
            continue
        for f in sorted(p.iterdir()):
            if f.suffix in HASHED_SUFFIXES:
                h.update(f.name.encode())
                h.update(file_digest(f).encode())
    return h.hexdigest()[:16]


def _hub_snapshot(repo_id: str) -> str:
    """The commit folder the hub cache resolved `repo_id` to ("" when it is not cached)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id
        return ""
    return Path(cached).parent.name if isinstance(cached, str) else ""


def file_digest(path: Path) -> str:
    """sha256 of a file, remembered under $MME5_CACHE by (path, size, mtime): reading 22 GB of
    weights takes a while, so it is done once per file version."""
    stat = path.stat()
    if stat.st_size < MEMO_MIN_BYTES:
        return _sha256(path)
    memo = (
        cache_root()
        / "file-digests"
        / hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    )
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    digest = _sha256(path)
    try:  # only a shortcut: a read-only cache must not stop a model from loading
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        tmp.write_text(digest)
        tmp.replace(memo)
    except OSError as exc:
        log.debug("cannot remember the digest of %s: %s", path, exc)
    return digest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
