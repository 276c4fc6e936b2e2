"""mme5: multimodal, multilingual embeddings from vision-language LLMs, the mmE5 way."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .types import ContrastiveExample, InputError, Item

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .model.embedder import Embedder


def __getattr__(name: str):
    # importing torch/transformers costs seconds; do it only when the Embedder is asked for
    if name in ("Embedder", "load_embedder"):
        from .model.embedder import Embedder

        return Embedder if name == "Embedder" else Embedder.from_pretrained
    raise AttributeError(name)


__all__ = ["ContrastiveExample", "Embedder", "InputError", "Item", "load_embedder", "__version__"]
