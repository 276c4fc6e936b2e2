"""mme5: multimodal, multilingual embeddings from vision-language LLMs, the mmE5 way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .types import ContrastiveExample, InputError, Item

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .model.embedder import Embedder, load_embedder
    from .model.reranker import Reranker


def __getattr__(name: str):
    # importing torch/transformers costs seconds; do it only when the Embedder is asked for
    if name == "Embedder":
        from .model.embedder import Embedder

        return Embedder
    if name == "Reranker":  # P(yes) of (query, document) pairs: mme5.model.reranker
        from .model.reranker import Reranker

        return Reranker
    if name == "load_embedder":  # None -> the embedded tiny default, else a folder or hub id
        from .model.embedder import load_embedder

        return load_embedder
    raise AttributeError(name)


__all__ = ["ContrastiveExample", "Embedder", "InputError", "Item", "Reranker", "load_embedder", "__version__"]
