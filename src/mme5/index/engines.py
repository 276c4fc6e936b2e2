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

from ..types import Encoder
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
    max_length: int | None = None
    """None: the profile's."""
    profile: str | None = None
    """None: the one the checkpoint calls for (`mme5.model.profiles.detect_profile`)."""

    def load(self, device: str | None = None) -> Encoder:
        from ..model.loading import load_embedder

        return load_embedder(
            self.model,
            adapter=self.adapter,
            dtype=self.dtype,
            device=device or self.device,
            max_length=self.max_length,
            profile=self.profile,
        )

    def load_preparer(self) -> Any:
        """The model's processor side only (`Embedder.preparer`): what CPU workers need."""
        from ..model.embedder import Embedder
        from ..model.loading import ensure_tiny

        return Embedder.preparer(self.model or ensure_tiny(), max_length=self.max_length, profile=self.profile)

    def fingerprint(self, device: str) -> str:
        """The fingerprint the loaded model will have on `device`, without loading its weights."""
        from ..model.fingerprint import fingerprint_model
        from ..model.loading import ensure_tiny, resolve_dtype
        from ..model.profiles import profiled_fingerprint

        profile, max_length = self.resolved_profile()
        plain = fingerprint_model(
            self.model or ensure_tiny(), self.adapter, resolve_dtype(self.dtype, device), max_length
        )
        return profiled_fingerprint(plain, profile)

    def resolved_profile(self) -> tuple[str, int]:
        """(profile name, max_length) the loaded model will have, without loading its weights."""
        from ..model.loading import ensure_tiny, resolve_backbone
        from ..model.profiles import resolve_profile

        model = self.model or ensure_tiny()
        backbone = resolve_backbone(model).name
        profile, max_length = resolve_profile(model, backbone, self.profile, self.max_length, self.adapter)
        return profile.name, max_length


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
        from tqdm.auto import tqdm

        for shard in tqdm(shards, desc="embed", unit="shard", disable=len(shards) < 2):
            items, records = prepare_items(corpus, shard)
            where = [f"{corpus.path}: item {row}" for row in range(shard.start, shard.end)]
            vectors = self.embedder.encode(items, batch_size=self.batch_size, show_progress=False, where=where)
            store.write(shard, np.arange(shard.start, shard.end), vectors, records)


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
