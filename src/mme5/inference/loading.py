"""Resolve `--model` (a folder, a hub id, or the embedded tiny default) to an Embedder."""
from __future__ import annotations

from pathlib import Path

from ..paths import cache_root

DEFAULT_TINY_BACKBONE = "mllama"


def tiny_default_dir(backbone: str = DEFAULT_TINY_BACKBONE) -> Path:
    """Where the embedded default is built once (override with MME5_CACHE)."""
    return cache_root() / f"tiny-{backbone}"


def ensure_tiny(backbone: str = DEFAULT_TINY_BACKBONE) -> Path:
    """Build the embedded tiny backbone if it is not there yet; return its folder."""
    path = tiny_default_dir(backbone)
    if not (path / "config.json").is_file():
        from ..model.tiny import build_tiny

        build_tiny(backbone, path)
    return path


def load_embedder(model: str | None = None, **kwargs):
    """`model` None -> the embedded tiny Mllama; else a local folder or hub id."""
    from ..model.embedder import Embedder

    return Embedder.from_pretrained(model or ensure_tiny(), **kwargs)
