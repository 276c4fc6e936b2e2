"""Where mme5 keeps what it builds once: tiny models, toy data, embeddings, file digests."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$MME5_CACHE` (default `~/.cache/mme5`)."""
    return Path(os.environ.get("MME5_CACHE", Path.home() / ".cache" / "mme5"))
