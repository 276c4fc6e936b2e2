"""Serving: an OpenAI-style multimodal embeddings server with dynamic batching and vector search.

`create_app` is imported lazily so that reading the settings (e.g. for `mme5 serve --help`) does
not import FastAPI, torch or faiss.
"""

from typing import Any

from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'mme5.serving' has no attribute {name!r}")
