"""Deterministic train / held-out splits of the emoji pairs for two honest retrieval tests.

(a) held-out pairs: random (image, language) pairs of training images never train; the query is
    that name and the gallery is every image (the image itself was seen with other languages).
(b) held-out images: a share of the images never trains in any language; the queries are their
    names and the gallery is those images only (generalisation to unseen pictures).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from ..data.emoji import XTD_LANGUAGES, EmojiSet
from ..evaluation.emoji import EmojiSplit, SplitDefinition
from .config import SplitConfig


@dataclass(frozen=True)
class Pair:
    """One (image index, language, name) pair."""

    image: int
    language: str
    text: str


@dataclass(frozen=True)
class RetrievalSplit:
    """Text -> image retrieval: per-language queries against one gallery of image indices."""

    name: str
    description: str
    gallery: tuple[int, ...]
    queries: dict[str, tuple[Pair, ...]]


@dataclass(frozen=True)
class Splits:
    """Training pairs grouped by image, and the two held-out retrieval splits."""

    train: dict[int, tuple[Pair, ...]]
    heldout_pairs: RetrievalSplit
    heldout_images: RetrievalSplit

    @property
    def train_texts(self) -> list[str]:
        return [p.text for pairs in self.train.values() for p in pairs]

    @property
    def num_train_pairs(self) -> int:
        return sum(len(p) for p in self.train.values())


def make_splits(data: EmojiSet, cfg: SplitConfig) -> Splits:
    """Split `data` with `cfg.seed`; the same data and config always give the same split."""
    if not 0 < cfg.heldout_image_fraction < 1:
        raise ConfigError(f"split.heldout_image_fraction must be in (0, 1), got {cfg.heldout_image_fraction}")
    outside = [lang for lang in cfg.eval_languages if lang not in XTD_LANGUAGES]
    if outside:
        raise ConfigError(
            f"split.eval_languages {outside} have no registered emoji task; choose from {list(XTD_LANGUAGES)}"
        )
    n = len(data) if cfg.max_images is None else min(cfg.max_images, len(data))
    names = [data.records[i].names for i in range(n)]
    missing = [lang for lang in cfg.eval_languages if not any(lang in nm for nm in names)]
    if missing:
        raise ConfigError(f"split.eval_languages {missing} name no image in {data.source}; available: {data.languages}")
    rng = random.Random(cfg.seed)
    order = list(range(n))
    rng.shuffle(order)
    n_heldout = max(1, round(cfg.heldout_image_fraction * n))
    heldout_images = sorted(order[:n_heldout])
    train_images = sorted(order[n_heldout:])

    held_pairs: dict[str, tuple[Pair, ...]] = {}
    for lang in cfg.eval_languages:
        candidates = [i for i in train_images if lang in names[i]]
        chosen = sorted(rng.sample(candidates, min(cfg.heldout_pairs_per_language, len(candidates))))
        held_pairs[lang] = tuple(Pair(i, lang, names[i][lang]) for i in chosen)
    held_set = {(p.image, p.language) for pairs in held_pairs.values() for p in pairs}

    allowed = set(cfg.train_languages) if cfg.train_languages else None
    train = {}
    for i in train_images:
        pairs = tuple(
            Pair(i, lang, text)
            for lang, text in sorted(names[i].items())
            if (allowed is None or lang in allowed) and (i, lang) not in held_set
        )
        if pairs:
            train[i] = pairs
    if len(train) < 2:
        raise ConfigError(f"only {len(train)} training image(s) left; use more images or a smaller held-out share")

    split_a = RetrievalSplit(
        name="a_heldout_pairs",
        description="random held-out (image, language) pairs; gallery = all images",
        gallery=tuple(range(n)),
        queries=held_pairs,
    )
    split_b = RetrievalSplit(
        name="b_heldout_images",
        description="whole images held out in every language; gallery = the held-out images",
        gallery=tuple(heldout_images),
        queries={
            lang: tuple(Pair(i, lang, names[i][lang]) for i in heldout_images if lang in names[i])
            for lang in cfg.eval_languages
        },
    )
    return Splits(train=train, heldout_pairs=split_a, heldout_images=split_b)


def seen_text_share(split: RetrievalSplit, splits: Splits) -> dict[str, float]:
    """Per language: share of queries whose exact string also trains the same image (another language).

    Some CLDR names are identical across languages ("keycap: 3" in en/da/id), so split (a) is
    partly a memorisation test; reporting the share keeps the numbers honest.
    """

    def seen(p: Pair) -> bool:
        return any(q.text == p.text for q in splits.train.get(p.image, ()))

    return {lang: (sum(map(seen, pairs)) / len(pairs) if pairs else 0.0) for lang, pairs in split.queries.items()}


def split_definition(data: EmojiSet, splits: Splits, cfg: SplitConfig) -> SplitDefinition:
    """The held-out splits as the emoji evaluation tasks read them (`splits.json` of a run)."""
    ids = [r.id for r in data.records]

    def emoji_split(s: RetrievalSplit) -> EmojiSplit:
        return EmojiSplit(
            s.description,
            tuple(ids[i] for i in s.gallery),
            {lang: tuple(ids[p.image] for p in pairs) for lang, pairs in s.queries.items()},
        )

    source = None if cfg.source is None else str(Path(cfg.source).resolve())
    return SplitDefinition(
        source,
        cfg.query_instruction,
        cfg.image_instruction,
        {s.name: emoji_split(s) for s in (splits.heldout_pairs, splits.heldout_images)},
    )
