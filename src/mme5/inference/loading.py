"""Resolve `--model` (a folder, a hub id, or the embedded tiny default) to an Embedder."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..paths import cache_root

DEFAULT_TINY_BACKBONE = "mllama"


def tiny_default_dir(backbone: str = DEFAULT_TINY_BACKBONE) -> Path:
    """Where the embedded default is built once (override with MME5_CACHE)."""
    return cache_root() / f"tiny-{backbone}"


def ensure_tiny(backbone: str = DEFAULT_TINY_BACKBONE) -> Path:
    """Build the embedded tiny backbone if it is not there yet, or was built by an older builder;
    return its folder. Built aside and renamed into place, so a reader never sees half a folder."""
    from ..model.tiny import BUILDER_VERSION, build_tiny

    path = tiny_default_dir(backbone)
    try:
        if json.loads((path / "mme5_tiny.json").read_text()).get("builder") == BUILDER_VERSION:
            return path
    except (OSError, ValueError):
        pass
    fresh = build_tiny(backbone, path.with_name(f"{path.name}.{os.getpid()}.tmp"))
    shutil.rmtree(path, ignore_errors=True)
    try:
        fresh.rename(path)
    except OSError:  # another process put its build in place first: same seed, same folder
        shutil.rmtree(fresh, ignore_errors=True)
    return path


def load_embedder(model: str | None = None, **kwargs):
    """`model` None -> the embedded tiny Mllama; else a local folder or hub id."""
    from ..model.embedder import Embedder

    return Embedder.from_pretrained(model or ensure_tiny(), **kwargs)
