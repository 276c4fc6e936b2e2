"""Hard-negative mining: rank every row's query against the rows' positives with an embedder, drop
likely false negatives, and write the rows back with `neg_text` / `neg_image_path` columns.

The candidates of a query are the other rows' distinct positives (its own positive, and any equal
to it, never). Two filters for false negatives (unlabelled positives), usable together:
- `skip_top`: the first N candidates by cosine are skipped (they are the likeliest to be relevant);
- `max_reranker_score`: with a reranker, a candidate whose P(yes) is above this is dropped.
The first `negatives` survivors, best first, become the row's negatives (hard ones: the embedder
ranks them high). Paths are written as the input had them, so the output reads with the same
`image_root`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..types import InputError
from .schema import positive_key, row_to_example


@dataclass(frozen=True)
class MineOptions:
    top_k: int = 30
    """Candidates read per query (before the filters)."""
    negatives: int = 3
    skip_top: int = 0
    max_reranker_score: float | None = None
    teacher_scores: bool = False
    """Also write `teacher_scores`: the reranker's logits of [positive, *negatives] (distillation)."""

    def check(self) -> None:
        if self.top_k < 1 or self.negatives < 1 or self.skip_top < 0:
            raise InputError("--top-k and --negatives must be >= 1, --skip-top >= 0")
        if self.max_reranker_score is not None and not 0 <= self.max_reranker_score <= 1:
            raise InputError(f"--max-reranker-score is a probability in [0, 1], got {self.max_reranker_score}")


def mine(
    rows: Sequence[dict[str, Any]],
    wheres: Sequence[str],
    embedder: Any,
    options: MineOptions,
    *,
    image_root: Path | None = None,
    reranker: Any = None,
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """The rows with mined `neg_text` / `neg_image_path` (JSON lists), in input order."""
    options.check()
    if (options.max_reranker_score is not None or options.teacher_scores) and reranker is None:
        raise InputError("--max-reranker-score and --teacher-scores need --reranker")
    examples = [
        row_to_example(r, where=w, source="mine", image_root=image_root, negative_ratio=0) for r, w in zip(rows, wheres)
    ]
    keys = [positive_key(e) for e in examples]
    corpus: dict[tuple[str, str], int] = {}  # distinct positive -> its first row
    for i, key in enumerate(keys):
        corpus.setdefault(key, i)
    pool = list(corpus.values())
    queries = embedder.encode([e.query for e in examples], batch_size=batch_size)
    targets = embedder.encode([examples[i].positive for i in pool], batch_size=batch_size)
    scores = queries @ targets.T
    out = []
    for i, example in enumerate(examples):
        order = [pool[j] for j in np.argsort(-scores[i], kind="stable") if keys[pool[j]] != keys[i]]
        picked = order[options.skip_top : options.skip_top + options.top_k]
        if options.max_reranker_score is not None:
            p_yes = reranker.score_pairs([(example.query, examples[j].positive) for j in picked], batch_size=batch_size)
            picked = [j for j, p in zip(picked, p_yes) if p <= options.max_reranker_score]
        picked = picked[: options.negatives]
        row = {
            **rows[i],
            "neg_text": json.dumps([rows[j]["pos_text"] or "" for j in picked], ensure_ascii=False),
            "neg_image_path": json.dumps([rows[j]["pos_image_path"] or "" for j in picked], ensure_ascii=False),
        }
        if options.teacher_scores:
            pairs = [(example.query, examples[j].positive) for j in [i, *picked]]
            row["teacher_scores"] = reranker.score_pairs(pairs, batch_size=batch_size, raw=True).tolist()
        out.append(row)
    return out
