"""Typed configuration of a synthesis run: `mme5 synthesize CONFIG [--set key=value ...]`.

Sections: `plan` (what to make), `pool` (which images), `neighbours` (how positive / negative
images are found), `backend` (which MLLM writes the texts), `validation`, `output`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import ConfigError
from ..prompts import REPRESENT_IMAGE

ResponseFormat = Literal["json_schema", "json_object", "none"]


@dataclass(frozen=True)
class PlanConfig:
    """Task / modality / language mix. Weights are relative (they need not sum to 1)."""

    task_weights: dict[str, float] = field(
        default_factory=lambda: {"classification": 1.0, "vqa": 1.0, "retrieval": 2.0}
    )
    # per task, {modality: weight}; a task not listed uses all its combinations, equally weighted
    modality_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    languages: str = "xlmr93"
    """Language preset (see `mme5.synthesis.languages.PRESETS`)."""
    language_weights: dict[str, float] = field(default_factory=dict)
    """Replaces the preset's weights when given, e.g. {en: 4, de: 1}."""


@dataclass(frozen=True)
class PoolConfig:
    sources: tuple[str, ...] = ()
    """Image folders, list files (.txt, one path per line) and tar shards (.tar); globs allowed."""
    generate: int = 0
    """Also draw this many synthetic shape images into the pool (offline smoke runs)."""
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
    image_root: str | None = None
    """Output image paths are relative to this folder (default: the pool's common parent)."""


@dataclass(frozen=True)
class NeighbourConfig:
    encoder: str = "embedder"
    """`embedder` (the project's Embedder) or `pixels` (tiny colour-layout vectors, no model)."""
    model: str | None = None
    """Embedder folder or hub id; None = the embedded tiny default (random weights: tests only)."""
    instruction: str = REPRESENT_IMAGE
    """The instruction the neighbour images are encoded with (mmE5's image side)."""
    positive_ranks: tuple[int, int] = (1, 3)
    """Inclusive 1-based neighbour-rank band the positive image is drawn from."""
    negative_ranks: tuple[int, int] = (10, 30)
    """Inclusive rank band of the hard-negative image (lower ranked than the positive band)."""
    max_similarity: float | None = 0.995
    """Neighbours at this cosine similarity or above are skipped as copies of the anchor (re-saved,
    re-encoded: same pixels, other bytes); None turns the check off (a model whose image vectors
    are all nearly parallel, like the random tiny one)."""
    batch_size: int = 32
    device: str | None = None


@dataclass(frozen=True)
class OpenAIConfig:
    """Any OpenAI-compatible chat-completions server (OpenAI, vLLM, SGLang, Ollama, ...)."""

    model: str = "gpt-4o-2024-08-06"
    base_urls: tuple[str, ...] = ("https://api.openai.com/v1",)
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (keys never go into configs)."""
    concurrency: int = 16
    timeout_s: float = 300.0
    max_retries: int = 6
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    response_format: ResponseFormat = "json_schema"
    temperature: float = 0.7
    max_tokens: int = 4096
    image_detail: Literal["auto", "low", "high"] | None = None
    price_input_per_million: float = 0.0
    price_output_per_million: float = 0.0


@dataclass(frozen=True)
class LocalConfig:
    """A transformers vision-language model with schema-constrained decoding (outlines)."""

    model: str | None = None
    """Model folder or hub id; None = the embedded tiny Mllama (random weights: smoke runs)."""
    device: str | None = None
    dtype: str | None = None
    max_new_tokens: int = 4096
    temperature: float = 0.7
    max_string_chars: int | None = None
    """Cap on every string in the decoding schema; keeps tiny random models short."""


@dataclass(frozen=True)
class BackendConfig:
    kind: str = "openai"
    """Registry name: `openai` or `local`."""
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    local: LocalConfig = field(default_factory=LocalConfig)


@dataclass(frozen=True)
class ValidationConfig:
    check_language: bool = True
    language_top_k: int = 3
    """A text passes when its language is among the identifier's top-k guesses ..."""
    language_min_ratio: float = 0.1
    """... with at least this fraction of the best guess's probability."""
    min_letters: int = 10
    """Texts with fewer letters are too short to identify and are not language-checked."""
    near_duplicates: bool = True
    max_attempts: int = 2
    """Generations per sample before it is recorded as failed."""


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "synthetic"
    format: Literal["jsonl", "parquet"] = "jsonl"
    shard_size: int = 1000
    commit_every_s: float = 30.0
    """Commit a (smaller) shard at least this often, bounding the work a kill can lose."""
    max_attempted_factor: float = 3.0
    """Stop when more than factor x num_samples + 100 samples were tried (a broken backend)."""


@dataclass(frozen=True)
class SynthesisConfig:
    num_samples: int = 100
    seed: int = 0
    prompt_version: str = "v1"
    plan: PlanConfig = field(default_factory=PlanConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    neighbours: NeighbourConfig = field(default_factory=NeighbourConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ConfigError(f"num_samples must be >= 1, got {self.num_samples}")
        lo, hi = self.neighbours.positive_ranks
        nlo, nhi = self.neighbours.negative_ranks
        if not (1 <= lo <= hi < nlo <= nhi):
            raise ConfigError(
                "neighbours: need 1 <= positive_ranks[0] <= positive_ranks[1] < negative_ranks[0] <= "
                f"negative_ranks[1]; got positive_ranks={list(self.neighbours.positive_ranks)}, "
                f"negative_ranks={list(self.neighbours.negative_ranks)}"
            )
        similarity = self.neighbours.max_similarity
        if similarity is not None and not 0 < similarity <= 1:
            raise ConfigError(f"neighbours.max_similarity must be in (0, 1] or null (off), got {similarity}")
        if not 1 <= self.validation.max_attempts <= 30:
            raise ConfigError("validation.max_attempts must be between 1 and 30")
        if self.output.shard_size < 1:
            raise ConfigError("output.shard_size must be >= 1")
