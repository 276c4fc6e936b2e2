"""Micro-batches of example indices -> processor outputs, cut into GradCache chunks BY EXAMPLES.

VLM processor outputs cannot be sliced along dim 0 (Qwen2-VL flattens image patches across the
batch, Mllama adds image/tile dimensions), so each chunk is prepared separately through
`Embedder.prepare`, the same formatting path as evaluation and serving.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from ..model.embedder import Embedder, Prepared
from ..types import ContrastiveExample


@dataclass
class Chunk:
    """Inputs of `c` examples: queries, positives, their hard negatives (flattened, example order)
    and `negative_mask` (c, K) marking which of the K negative slots are real."""

    query: Prepared
    positive: Prepared
    negatives: Prepared | None
    negative_mask: torch.Tensor

    @property
    def size(self) -> int:
        return self.query.size

    def prepared(self) -> tuple[Prepared, ...]:
        return (self.query, self.positive) + ((self.negatives,) if self.negatives is not None else ())


class MicroBatches(Dataset):
    """Element k = the example indices of micro-batch k (see `BatchPlan`)."""

    def __init__(self, micro_batches: Sequence[Sequence[int]]) -> None:
        self.micro_batches = [list(b) for b in micro_batches]

    def __len__(self) -> int:
        return len(self.micro_batches)

    def __getitem__(self, k: int) -> list[int]:
        return self.micro_batches[k]


class ContrastiveCollator:
    """Runs in data-loader workers: formats, loads images and runs the processor per chunk."""

    def __init__(
        self,
        embedder: Embedder,
        examples: Sequence[ContrastiveExample],
        wheres: Sequence[str],
        *,
        negative_ratio: int,
        chunk_size: int | None = None,
    ) -> None:
        # only the processor side of the Embedder travels to workers, never the model
        self.preparer = Embedder(None, embedder.processor, embedder.backbone, max_length=embedder.max_length)
        self.examples, self.wheres = examples, wheres
        self.negative_ratio, self.chunk_size = negative_ratio, chunk_size

    def __call__(self, batch: list[list[int]]) -> dict[str, Any]:
        if len(batch) != 1:
            raise ValueError("the data loader must serve one micro-batch per step (per_device_train_batch_size=1)")
        ids = batch[0]
        step = self.chunk_size or len(ids)
        chunks = [self.chunk(ids[s : s + step]) for s in range(0, len(ids), step)]
        return {"chunks": chunks, "size": len(ids)}

    def chunk(self, ids: Sequence[int]) -> Chunk:
        examples = [self.examples[i] for i in ids]
        wheres = [self.wheres[i] for i in ids]
        prepare = self.preparer.prepare
        query = prepare([e.query for e in examples], where=[f"{w} query" for w in wheres])
        positive = prepare([e.positive for e in examples], where=[f"{w} positive" for w in wheres])
        k = self.negative_ratio
        mask = torch.zeros(len(examples), max(k, 0), dtype=torch.bool)
        items, where = [], []
        for row, (e, w) in enumerate(zip(examples, wheres)):
            negs = e.hard_negatives[:k] if k > 0 else ()
            mask[row, : len(negs)] = True
            items += negs
            where += [f"{w} hard_negatives[{j}]" for j in range(len(negs))]
        negatives = prepare(items, where=where) if items else None
        return Chunk(query=query, positive=positive, negatives=negatives, negative_mask=mask)
