"""Embedding engines: turn pending shards into written vector shards. `local` encodes them in this
process; `ray` runs the same steps on Ray Data (CPU tasks prepare, an actor pool embeds). Both
write through one ShardStore, so their outputs are interchangeable and a build may resume on either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..media_policy import DEFAULT_POLICY, MediaPolicy
from ..types import Encoder, InputError
from .corpus import Corpus, base_dir, to_item
from .shards import Shard, ShardStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedderSpec:
    """How to load the model (what `--model --adapter --dtype --device --max-length` say): picklable,
    so each Ray actor loads its own replica."""

    model: str | None = None
    adapter: str | None = None
    dtype: str = "auto"
    device: str | None = None
    max_length: int = 256
    media: MediaPolicy = DEFAULT_POLICY
    """Limits on reading the corpus's images, videos and PDF pages (`--media-limit`)."""

    def load(self, device: str | None = None) -> Encoder:
        from ..model.loading import load_embedder

        embedder = load_embedder(
            self.model, adapter=self.adapter, dtype=self.dtype, device=device or self.device, max_length=self.max_length
        )
        embedder.media_policy = self.media
        return embedder

    def load_preparer(self) -> Any:
        """The model's processor side only (`Embedder.preparer`): what CPU workers need."""
        from ..model.embedder import Embedder
        from ..model.loading import ensure_tiny

        preparer = Embedder.preparer(self.model or ensure_tiny(), max_length=self.max_length)
        preparer.media_policy = self.media
        return preparer

    def fingerprint(self, device: str) -> str:
        """The fingerprint the loaded model will have on `device`, without loading its weights."""
        from ..model.fingerprint import fingerprint_model
        from ..model.loading import ensure_tiny, resolve_dtype

        return fingerprint_model(
            self.model or ensure_tiny(), self.adapter, resolve_dtype(self.dtype, device), self.max_length
        )


class Engine(Protocol):
    """Embeds the items of `shards` and writes each shard to `store`."""

    def fingerprint(self) -> str: ...
    def run(self, corpus: Corpus, shards: list[Shard], store: ShardStore) -> None: ...


def prepare_items(corpus: Corpus, shard: Shard) -> tuple[list[Any], list[dict[str, Any]]]:
    """A shard's records and the Items to embed (relative media paths resolved)."""
    records = corpus.records(shard.start, shard.end)
    where = str(corpus.path)
    items = [to_item(r, base_dir(corpus), f"{where}: item {shard.start + i}") for i, r in enumerate(records)]
    return items, records


@dataclass
class LocalEngine:
    """One process, one model: shard after shard (the default, right for small corpora)."""

    embedder: Encoder
    batch_size: int = 16

    def fingerprint(self) -> str:
        return str(self.embedder.fingerprint)

    def run(self, corpus: Corpus, shards: list[Shard], store: ShardStore) -> None:
        """Shard after shard, progress counted in items (PDF pages are items); an input that cannot
        be read stops the build, and the shards written before it stay (a rerun resumes)."""
        from tqdm.auto import tqdm

        total = sum(s.end - s.start for s in shards)
        with tqdm(total=total, desc="embed", unit="item", disable=len(shards) < 2) as bar:
            for done, shard in enumerate(shards):
                items, records = prepare_items(corpus, shard)
                where = [f"{corpus.path}: item {row}" for row in range(shard.start, shard.end)]
                try:
                    vectors = self.embedder.encode(items, batch_size=self.batch_size, show_progress=False, where=where)
                except InputError as exc:
                    kept = f"; the {done} shard(s) written before it are kept (rerun to resume)" if done else ""
                    raise InputError(f"{exc}{kept}") from None
                store.write(shard, np.arange(shard.start, shard.end), vectors, records)
                bar.update(shard.end - shard.start)


@dataclass(frozen=True)
class EngineOptions:
    """Engine settings from the command line (only the Ray engine reads actors / address / cpus)."""

    batch_size: int = 16
    actors: int = 2
    ray_address: str | None = None
    num_cpus: int | None = None


def _local(embedder: Encoder | EmbedderSpec, options: EngineOptions) -> Engine:
    return LocalEngine(embedder.load() if isinstance(embedder, EmbedderSpec) else embedder, options.batch_size)


def _ray(embedder: Encoder | EmbedderSpec, options: EngineOptions) -> Engine:
    from .ray_engine import RayEngine

    if not isinstance(embedder, EmbedderSpec):
        raise TypeError("the ray engine loads the model in each actor: pass an EmbedderSpec, not a loaded model")
    return RayEngine(embedder, options)


ENGINES: dict[str, Callable[[Encoder | EmbedderSpec, EngineOptions], Engine]] = {"local": _local, "ray": _ray}


def make_engine(name: str, embedder: Encoder | EmbedderSpec, options: EngineOptions) -> Engine:
    """The engine called `name` ('local' or 'ray') around a loaded embedder or an EmbedderSpec."""
    from ..config import ConfigError

    if name not in ENGINES:
        raise ConfigError(f"--engine {name!r}: choose one of {', '.join(ENGINES)}")
    return ENGINES[name](embedder, options)
