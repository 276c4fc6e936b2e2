"""Many sources -> one list of examples: per-subset caps, image checks, and mixing weights."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError
from ..types import ContrastiveExample, InputError
from .config import DataConfig, SourceConfig
from .images import check_example_images
from .sources import read_examples

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    examples: list[ContrastiveExample]
    wheres: list[str]
    """for each example, its dataset and row (errors at batch time name them)."""
    report: list[dict] = field(default_factory=list)
    """per subset: rows read, skipped for bad images, used after weighting."""
    weights: dict[str, float] = field(default_factory=dict)
    """per source, its sampling weight (`data.source_weights: sample`; empty otherwise)."""

    @property
    def skipped_images(self) -> int:
        return sum(r["skipped_images"] for r in self.report)


def weighted_indices(ids: list[int], weight: float, rng: random.Random) -> list[int]:
    """`weight` copies of `ids`: whole repeats plus a seeded sample for the fractional part."""
    if weight < 0:
        raise ConfigError(f"weight must be >= 0, got {weight}")
    whole, frac = int(weight), weight - int(weight)
    return ids * whole + sorted(rng.sample(ids, round(frac * len(ids))))


def load_mixture(cfg: DataConfig, *, seed: int = 0) -> TrainingData:
    """Read every source/subset of `cfg`, check images, apply weights; empty result -> error."""
    if not cfg.sources:
        raise InputError("data.sources is empty: name at least one dataset (hub id, local path or toy:shapes)")
    data = TrainingData([], [])
    for source in cfg.sources:
        for subset in source.subsets or (None,):
            examples, wheres = read_examples(
                source.path,
                image_root=source.image_root,
                subset=subset,
                split=source.split,
                negative_ratio=cfg.negative_ratio,
                max_rows=source.max_rows,
                name=_name(source, subset),
                seed=seed,
                builder=source.builder,
            )
            kept, skipped, _ = check_example_images(examples, wheres, check=cfg.check_images, on_bad=cfg.on_bad_image)
            if cfg.source_weights == "sample":  # weights act when batches are planned (sampler)
                chosen = kept
                data.weights[_name(source, subset)] = source.weight
            else:
                chosen = weighted_indices(kept, source.weight, random.Random(f"{seed}:{_name(source, subset)}"))
            data.examples += [examples[i] for i in chosen]
            data.wheres += [wheres[i] for i in chosen]
            data.report.append(
                {"source": _name(source, subset), "rows": len(examples), "skipped_images": skipped, "used": len(chosen)}
            )
            log.info(
                "data %s: %d rows, %d skipped, %d used", _name(source, subset), len(examples), skipped, len(chosen)
            )
    if not data.examples:
        raise InputError(f"no training examples left after filtering: {data.report}")
    return data


def _name(source: SourceConfig, subset: str | None) -> str:
    return subset or source.name or Path(source.path).stem or source.path
