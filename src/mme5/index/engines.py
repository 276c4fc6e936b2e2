"""Embedding engines: turn pending shards into written vector shards. `local` encodes them in this
process; `ray` runs the same steps on Ray Data (CPU tasks prepare, an actor pool embeds). Both
write through one ShardStore, so their outputs are interchangeable and a build may resume on either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..encode_rows import BadRow, encode_rows
from ..media_policy import DEFAULT_POLICY, MediaPolicy
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
    media: MediaPolicy = DEFAULT_POLICY
    """Limits on reading the corpus's images, videos and PDF pages (`--media-limit`)."""
    max_tokens: int | None = None
    """Padded token positions a model batch may hold (`--max-batch-tokens`), in both engines."""

    def load(self, device: str | None = None) -> Encoder:
        from ..model.embedder import load_embedder

        return load_embedder(
            self.model,
            adapter=self.adapter,
            dtype=self.dtype,
            device=device or self.device,
            max_length=self.max_length,
            media_policy=self.media,
            profile=self.profile,
            max_tokens=self.max_tokens,
        )

    def load_preparer(self) -> Any:
        """The model's processor side only (`Preprocessor`): what CPU workers need."""
        from ..model.loading import ensure_tiny
        from ..model.preprocess import Preprocessor

        return Preprocessor.from_pretrained(
            self.model or ensure_tiny(),
            max_length=self.max_length,
            profile=self.profile,
            media_policy=self.media,
            max_tokens=self.max_tokens,
        )

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
    skip_bad: bool = False
    skipped: list[BadRow] = field(default_factory=list)
    """Items left out with `skip_bad` (row, where, reason), in corpus order."""

    def fingerprint(self) -> str:
        return str(self.embedder.fingerprint)

    def run(self, corpus: Corpus, shards: list[Shard], store: ShardStore) -> None:
        """Shard after shard, progress counted in items (PDF pages are items); an input that cannot
        be read stops the build, and the shards written before it stay (a rerun resumes); with
        `skip_bad` it is left out of its shard instead and listed in `skipped`."""
        from tqdm.auto import tqdm

        total = sum(s.end - s.start for s in shards)
        with tqdm(total=total, desc="embed", unit="item", disable=len(shards) < 2) as bar:
            for shard in shards:
                items, records = prepare_items(corpus, shard)
                where = [item_where(corpus, shard.start + k, r) for k, r in enumerate(records)]
                if self.skip_bad:
                    self._write_good(shard, items, records, where, store)
                else:
                    vectors = self.embedder.encode(items, batch_size=self.batch_size, show_progress=False, where=where)
                    store.write(shard, np.arange(shard.start, shard.end), vectors, records)
                bar.update(shard.end - shard.start)

    def _write_good(self, shard: Shard, items: list[Any], records: list[dict], where: list[str], store: ShardStore):
        """The shard without its bad items (`skip_bad`), which are noted in `skipped`."""
        vectors, kept, bad = encode_rows(self.embedder, items, where, self.batch_size, skip_bad=True)
        self.skipped += [BadRow(shard.start + b.row, b.where, b.reason) for b in bad]
        rows = np.arange(shard.start, shard.end)[kept]
        store.write(shard, rows, vectors, [records[k] for k in kept], complete=False)


def item_where(corpus: Corpus, row: int, record: dict[str, Any]) -> str:
    """An item's name in errors, the same on every engine: the corpus, its row and its id
    (`doc.pdf#page=2` in a folder corpus)."""
    rid = record.get("id")
    return f"{corpus.path}: item {row}" + (f" ({rid})" if rid is not None else "")


@dataclass(frozen=True)
class EngineOptions:
    """Engine settings from the command line (only the Ray engine reads actors / address / cpus;
    only the local engine can skip bad items)."""

    batch_size: int = 16
    skip_bad: bool = False
    actors: int = 2
    ray_address: str | None = None
    num_cpus: int | None = None
