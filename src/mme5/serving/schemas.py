"""Wire schemas (pydantic, `extra="forbid"`): the OpenAI embeddings shape, extended with items.

An element of `input` is either a string (text) or an item object with the same fields as a line
of `mme5 embed --input` JSONL: `{"text", "image", "instruction", "language"}`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemIn(_Strict):
    """One multimodal input. `image`: a `data:image/...;base64,...` URL, or (if the server allows)
    a path under its image root or an http(s) URL."""

    text: str | None = None
    image: str | None = None
    video: str | list[str] | None = None
    """Frames (each like `image`), or one video: a `data:video/...;base64,` URL, or a video file or
    frame folder under the image root. 8 frames are sampled (mme5.media)."""
    pdf: str | None = None
    """A `data:application/pdf;base64,` URL or a path under the image root: one vector per page."""
    page: int | None = Field(default=None, ge=1)
    """With `pdf`: only this page (from 1), one vector."""
    instruction: str | None = None
    language: str | None = None


InputElement = str | ItemIn


class EmbeddingsRequest(_Strict):
    input: str | ItemIn | list[InputElement]
    model: str | None = None
    encoding_format: Literal["float", "base64", "int8", "uint8", "binary", "ubinary"] = "float"
    """float / base64 (float32 bytes, OpenAI's); int8 / uint8 (one byte per coordinate, the server's
    fixed ranges: docs/serving.md); binary / ubinary (sign bits packed 8 per byte, as int8 / uint8)."""
    embedding_types: list[Literal["float", "int8", "uint8", "binary", "ubinary"]] | None = Field(
        default=None, min_length=1
    )
    """Cohere's: several formats at once, returned in each item's `embeddings` (then
    `encoding_format` may only be float, or base64 for every type's bytes)."""
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None
    """Accepted for OpenAI client compatibility; not used."""


class Embedding(_Strict):
    object: Literal["embedding"] = "embedding"
    index: int
    page: int | None = None
    """For a PDF input: the page (from 1) this vector encodes; `index` is still the input's."""
    embedding: list[float] | list[int] | str | None = None
    embeddings: dict[str, list[float] | list[int] | str] | None = None
    """With `embedding_types`: one entry per requested type."""


class Usage(_Strict):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(_Strict):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class SearchRerank(_Strict):
    """Rescore the first `top_k` vector hits with the served reranker (`mme5 serve --reranker`)."""

    top_k: int = Field(default=100, ge=1)
    model: str | None = None


class SearchRequest(_Strict):
    query: str | ItemIn
    """A text or an item. Its instruction: the one it names, none with `"instruction": null`, else the
    query instruction the index records (index.json `prompts.query`)."""
    top_k: int = Field(default=10, ge=1)
    rerank: SearchRerank | None = None
    model: str | None = None
    nprobe: int | None = Field(default=None, ge=1)
    """IVF indexes: lists scanned for this request (default: the server's --nprobe, else the tuned value)."""
    ef_search: int | None = Field(default=None, ge=1)
    """HNSW indexes: candidate list size for this request (default: the server's --ef-search, else tuned)."""


class SearchHit(_Strict):
    rank: int
    index: int
    """Row of the corpus file the index was built from (0-based, non-empty lines)."""
    score: float
    """Cosine similarity (inner product of L2-normalised vectors)."""
    rerank_score: float | None = None
    """With `rerank`: the reranker's P(yes) (hits past `rerank.top_k` have none)."""
    id: str | None = None
    item: dict[str, Any]
    meta: Any = None


class SearchResponse(_Strict):
    object: Literal["list"] = "list"
    data: list[SearchHit]
    model: str


class ModelCard(_Strict):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "mme5"
    dimensions: int
    backbone: str
    fingerprint: str


class ModelList(_Strict):
    object: Literal["list"] = "list"
    data: list[ModelCard]
