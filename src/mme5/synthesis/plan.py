"""The plan: task, modality combination, language and images of sample i, as a pure function of
(config, seed, i). Every sample therefore has a stable id, and a restarted run re-creates exactly
the samples it had not finished."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..config import ConfigError
from .config import PlanConfig
from .languages import XLMR_LANGUAGES, language_weights


@dataclass(frozen=True)
class Modality:
    """A combination "X2Y": what the query side (X) and the target side (Y) hold."""

    name: str
    query_image: bool
    query_text: bool
    target_image: bool
    target_text: bool


def has_texts(m: Modality) -> bool:
    """Whether a combination has texts besides the instruction (I2I has none)."""
    return m.query_text or m.target_text


def _modality(name: str) -> Modality:
    query, target = name.split("2")
    return Modality(name, "I" in query, "T" in query, "I" in target, "T" in target)


MODALITIES: Mapping[str, Modality] = MappingProxyType(
    {n: _modality(n) for n in ("I2T", "IT2T", "T2I", "IT2I", "T2IT", "I2I", "IT2IT")}
)


@dataclass(frozen=True)
class Task:
    name: str
    modalities: tuple[str, ...]
    template: str
    """Prompt template family (a file under templates/<version>/)."""


# The paper's combinations: Classification I->T, IT->T; VQA IT->T; Retrieval all seven.
TASKS: Mapping[str, Task] = MappingProxyType(
    {
        "classification": Task("classification", ("I2T", "IT2T"), "classification"),
        "vqa": Task("vqa", ("IT2T",), "vqa"),
        "retrieval": Task("retrieval", ("I2T", "T2I", "IT2T", "IT2I", "T2IT", "I2I", "IT2IT"), "retrieval"),
    }
)


@dataclass(frozen=True)
class PlannedSample:
    """What sample `index` must be. `anchor` is a pool index: the query image when the query has
    one, else the positive image; `positive_rank` / `negative_rank` pick the other images among
    the anchor's neighbours (1 = most similar, the anchor itself excluded)."""

    index: int
    id: str
    task: str
    modality: str
    language: str
    anchor: int
    positive_rank: int
    negative_rank: int


class Planner:
    """Deterministic sampler of `PlannedSample`s over a pool of `pool_size` images."""

    def __init__(
        self,
        config: PlanConfig,
        *,
        seed: int,
        pool_size: int,
        positive_ranks: tuple[int, int] = (1, 3),
        negative_ranks: tuple[int, int] = (10, 30),
        fingerprint: str = "",
    ) -> None:
        if pool_size < 1:
            raise ConfigError("pool.sources: the image pool is empty")
        self.seed = seed
        self.pool_size = pool_size
        self.positive_ranks = positive_ranks
        self.negative_ranks = negative_ranks
        self.tasks, self.task_p = _normalise(config.task_weights, TASKS, "plan.task_weights")
        self.modalities: dict[str, tuple[list[str], np.ndarray]] = {}
        for task in self.tasks:
            given = config.modality_weights.get(task) or {m: 1.0 for m in TASKS[task].modalities}
            allowed = {m: MODALITIES[m] for m in TASKS[task].modalities}
            self.modalities[task] = _normalise(given, allowed, f"plan.modality_weights.{task}")
        weights = language_weights(config.languages, config.language_weights)
        self.languages, self.language_p = _normalise(weights, XLMR_LANGUAGES, "plan.language_weights")
        self.id_prefix = (fingerprint or plan_fingerprint(config, seed))[:8]

    def sample(self, index: int) -> PlannedSample:
        """The plan of sample `index` (draws from a generator seeded by (seed, index) only)."""
        rng = np.random.default_rng([self.seed, index])
        task = self.tasks[_draw(rng, self.task_p)]
        names, p = self.modalities[task]
        modality = names[_draw(rng, p)]
        language = self.languages[_draw(rng, self.language_p)]
        if not has_texts(MODALITIES[modality]):
            language = "en"  # only the (English) instruction is text: nothing is in another language
        anchor = int(rng.integers(self.pool_size))
        positive_rank = int(rng.integers(self.positive_ranks[0], self.positive_ranks[1] + 1))
        negative_rank = int(rng.integers(self.negative_ranks[0], self.negative_ranks[1] + 1))
        return PlannedSample(
            index=index,
            id=f"{self.id_prefix}-{index:08d}",
            task=task,
            modality=modality,
            language=language,
            anchor=anchor,
            positive_rank=positive_rank,
            negative_rank=negative_rank,
        )

    def expected_shares(self) -> dict[str, dict[str, float]]:
        """The configured mix as probabilities: {"task": ..., "modality": ..., "language": ...}."""
        modality: dict[str, float] = {}
        for task, tp in zip(self.tasks, self.task_p):
            names, p = self.modalities[task]
            for name, mp in zip(names, p):
                modality[name] = modality.get(name, 0.0) + float(tp * mp)
        textless = sum(p for name, p in modality.items() if not has_texts(MODALITIES[name]))
        language = {code: float(p) * (1 - textless) for code, p in zip(self.languages, self.language_p)}
        language["en"] = language.get("en", 0.0) + textless
        return {"task": dict(zip(self.tasks, map(float, self.task_p))), "modality": modality, "language": language}


def plan_fingerprint(config: PlanConfig, seed: int, *extra: object) -> str:
    """Hash of everything that decides the plan; ids carry its first 8 hex digits."""
    data = json.dumps([config.__dict__, seed, list(extra)], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _normalise(weights: Mapping[str, float], allowed: Mapping, where: str) -> tuple[list[str], np.ndarray]:
    unknown = sorted(set(weights) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown name(s) {unknown}; valid: {sorted(allowed)}")
    # canonical order (the registry's), so the plan does not depend on how a YAML file or an
    # override happened to order the keys: the fingerprint sorts them, the draws must not care
    items = [(k, float(weights[k])) for k in allowed if k in weights and float(weights[k]) > 0]
    if not items or any(float(v) < 0 for v in weights.values()):
        raise ConfigError(f"{where}: weights must be >= 0 with at least one > 0, got {dict(weights)}")
    names = [k for k, _ in items]
    p = np.array([v for _, v in items], dtype=np.float64)
    return names, p / p.sum()


def _draw(rng: np.random.Generator, p: np.ndarray) -> int:
    # inverse-CDF draw: one uniform per decision keeps each draw independent of the list sizes
    return min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), len(p) - 1)
