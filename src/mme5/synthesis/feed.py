"""Plans in index order with their images resolved: the anchor's neighbours are looked up for
a whole batch of samples in one faiss search (off the event loop)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from .neighbours import NeighbourIndex
from .plan import MODALITIES, PlannedSample, Planner


@dataclass(frozen=True)
class ResolvedSample:
    plan: PlannedSample
    images: dict[str, int]
    """role (query_image / positive_image / negative_image) -> pool index."""


def resolve_images(plan: PlannedSample, neighbours: list[int] | None) -> dict[str, int]:
    """Query image = anchor; with a target image: positive = the neighbour at `positive_rank`
    (or the anchor itself when the query has no image), negative = the one at `negative_rank`."""
    m = MODALITIES[plan.modality]
    images: dict[str, int] = {}
    if m.query_image:
        images["query_image"] = plan.anchor
    if m.target_image:
        if neighbours is None:
            raise ValueError(f"{plan.id}: {plan.modality} needs neighbours but no index was built")
        images["positive_image"] = neighbours[plan.positive_rank - 1] if m.query_image else plan.anchor
        images["negative_image"] = neighbours[plan.negative_rank - 1]
    return images


class SampleFeed:
    """Yields the samples whose plan index is not in `done`, lowest index first."""

    def __init__(self, planner: Planner, index: NeighbourIndex | None, done: set[int], batch: int = 256) -> None:
        self.planner = planner
        self.index = index
        self.done = done
        self.batch = batch
        self.cursor = 0
        self.buffer: deque[ResolvedSample] = deque()

    async def next(self) -> ResolvedSample:
        if not self.buffer:
            self.buffer.extend(await asyncio.to_thread(self._resolve_batch))
        return self.buffer.popleft()

    def _resolve_batch(self) -> list[ResolvedSample]:
        plans: list[PlannedSample] = []
        while len(plans) < self.batch:
            i, self.cursor = self.cursor, self.cursor + 1
            if i not in self.done:
                plans.append(self.planner.sample(i))
        need = [p for p in plans if MODALITIES[p.modality].target_image]
        ranked: dict[int, list[int]] = {}
        if need:
            if self.index is None:
                raise ValueError("the plan needs target images but no neighbour index was built")
            depth = self.planner.negative_ranks[1]
            for p, row in zip(need, self.index.ranked([p.anchor for p in need], depth)):
                ranked[p.index] = row
        return [ResolvedSample(p, resolve_images(p, ranked.get(p.index))) for p in plans]
