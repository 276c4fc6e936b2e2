"""Micro-batches of example indices -> processor outputs, cut into GradCache chunks BY EXAMPLES.

VLM processor outputs cannot be sliced along dim 0 (Qwen2-VL flattens image patches across the
batch, Mllama adds image/tile dimensions), so each chunk is prepared separately through
`Preprocessor.prepare` (mme5.model.preprocess), the same formatting path as evaluation and serving.

With `on_bad_image="skip"`, an example whose image turns out unreadable only here (a corrupt file
passes the up-front `exists` check; decoding millions of images before step 1 is too slow) is
REPLACED, not dropped: every rank must keep its batch size for the cross-rank gather. The
substitute is the next readable example of the data set outside the micro-batch whose positive is
not in it; each replacement is returned in the batch (`replaced`) for the trainer to log and count.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch.utils.data import Dataset

from ..model.embedder import Embedder, Prepared
from ..model.profiles import get_profile
from ..types import ContrastiveExample, InputError, Item
from .images import OnBadImage, image_problem
from .prepared_cache import PreparedCache
from .schema import positive_key


@dataclass
class Chunk:
    """Inputs of `c` examples: queries, positives, their hard negatives (flattened, example order)
    and `negative_mask` (c, K) marking which of the K negative slots are real."""

    query: Prepared
    positive: Prepared
    negatives: Prepared | None
    negative_mask: torch.Tensor
    teacher: torch.Tensor | None = None
    """(c, 1 + K) teacher logits of [positive, negative slots] for distillation (NaN = none), or None."""

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
        on_bad_image: OnBadImage = "error",
        lockstep: bool = False,
        image_cache_bytes: int = 0,
    ) -> None:
        """`lockstep`: every chunk runs the same modules on every rank (DeepSpeed ZeRO-3), see
        `Preprocessor.prepare`. `image_cache_bytes` > 0: reuse image items' processor outputs across
        batches (`PreparedCache`; not with lockstep, whose padding rows change every call)."""
        # only the processor side of the Embedder travels to workers, never the model
        self.preparer = embedder.preprocessor
        self.bare_candidates = get_profile(embedder.profile).bare_candidates
        self.examples, self.wheres = examples, wheres
        self.negative_ratio, self.chunk_size, self.on_bad_image = negative_ratio, chunk_size, on_bad_image
        self.lockstep = lockstep
        self.cache = PreparedCache(0 if lockstep else image_cache_bytes)

    def __call__(self, batch: list[list[int]]) -> dict[str, Any]:
        """-> chunks, size, and `replaced`: one line per example replaced for an unreadable image."""
        if len(batch) != 1:
            raise ValueError("the data loader must serve one micro-batch per step (per_device_train_batch_size=1)")
        ids, replaced = list(batch[0]), list[str]()
        step = self.chunk_size or len(ids)
        chunks = [self._chunk_replacing(ids, s, min(s + step, len(ids)), replaced) for s in range(0, len(ids), step)]
        return {"chunks": chunks, "size": len(ids), "replaced": replaced}

    def _chunk_replacing(self, ids: list[int], start: int, stop: int, replaced: list[str]) -> Chunk:
        """The chunk of ids[start:stop]; under "skip", examples with an unreadable image are first
        replaced in `ids` (the usual path pays nothing: images are checked only after a failure)."""
        while True:
            try:
                return self.chunk(ids[start:stop])
            except InputError:
                if self.on_bad_image != "skip":
                    raise
                bad = [
                    (k, problem)
                    for k in range(start, stop)
                    if (problem := image_problem(self.examples[ids[k]], "decode"))
                ]
                if not bad:
                    raise  # not an image problem
                for k, problem in bad:
                    substitute = self._substitute(ids, ids[k])
                    replaced.append(f"{self.wheres[ids[k]]} {problem}; replaced by {self.wheres[substitute]}")
                    ids[k] = substitute

    def _substitute(self, ids: list[int], bad: int) -> int:
        """The next readable example after `bad` (usually of the same source) outside `ids` whose
        positive is not in `ids`."""
        taken = {positive_key(self.examples[i]) for i in ids}
        n = len(self.examples)
        for j in ((bad + step) % n for step in range(1, n)):
            if (
                j not in ids
                and positive_key(self.examples[j]) not in taken
                and image_problem(self.examples[j], "decode") is None
            ):
                return j
        raise InputError(f"{self.wheres[bad]}: unreadable image and no readable example left to replace it")

    def _candidate(self, item: Item) -> Item:
        """A positive / hard negative as the profile trains it (Qwen3-VL-Embedding: no instruction)."""
        return replace(item, instruction=None) if self.bare_candidates and item.instruction else item

    def chunk(self, ids: Sequence[int]) -> Chunk:
        examples = [self.examples[i] for i in ids]
        wheres = [self.wheres[i] for i in ids]
        fn = functools.partial(self.preparer.prepare, lockstep=self.lockstep)

        def prepare(items: list[Item], where: list[str]) -> Prepared:
            return self.cache.prepare(items, where, fn)

        query = prepare([e.query for e in examples], where=[f"{w} query" for w in wheres])
        positive = prepare([self._candidate(e.positive) for e in examples], where=[f"{w} positive" for w in wheres])
        k = self.negative_ratio
        mask = torch.zeros(len(examples), max(k, 0), dtype=torch.bool)
        items: list[Item] = []
        where: list[str] = []
        for row, (e, w) in enumerate(zip(examples, wheres)):
            negs = e.hard_negatives[:k] if k > 0 else ()
            mask[row, : len(negs)] = True
            items += [self._candidate(n) for n in negs]
            where += [f"{w} hard_negatives[{j}]" for j in range(len(negs))]
        negatives = prepare(items, where=where) if items or (self.lockstep and k > 0) else None
        teacher = None
        if any(e.teacher_scores for e in examples):
            teacher = torch.full((len(examples), 1 + max(k, 0)), float("nan"))
            for row, e in enumerate(examples):
                scores = e.teacher_scores[: 1 + int(mask[row].sum())]
                teacher[row, : len(scores)] = torch.tensor(scores)
        return Chunk(query=query, positive=positive, negatives=negatives, negative_mask=mask, teacher=teacher)
