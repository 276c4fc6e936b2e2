"""Ranking metrics, vectorised over a whole dataset.

The rank of the positive is computed under two tie rules:

- "original" (published comparability): candidates are ordered by score, ties broken by list
  position, which is numpy `argmax`'s first-maximum rule. MMEB puts the positive at position 0,
  so it wins every tie: a collapsed model (all embeddings equal) scores a perfect 100.
- "tie_aware" (pessimistic): the positive ranks below every other candidate whose score is equal
  or higher (within `tie_tol`). A collapsed model scores 0 (below chance), as it should.

Scores are inner products of L2-normalised vectors (cosine), as in the original evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# bytes of one block of the score matrix: bounds memory whatever the dataset size
_BLOCK_BYTES = 64 << 20
# float32 rounding of a 4096-dim dot product of unit vectors stays well below this
DEFAULT_TIE_TOL = 1e-6


@dataclass
class Ranks:
    """Per row: 1-based rank of the positive under both tie rules, and whether it is tied."""

    first: np.ndarray  # (rows,) int64, original first-maximum rule
    tie_aware: np.ndarray  # (rows,) int64, pessimistic
    tied: np.ndarray  # (rows,) bool: another candidate scores within the tie tolerance
    n_candidates: np.ndarray  # (rows,) int64


def ranks_from_scores(scores: np.ndarray, positive: np.ndarray, tie_tol: float = DEFAULT_TIE_TOL) -> Ranks:
    """(rows, k) scores (-inf = padding) and (rows,) positive columns -> `Ranks`.

    The original rule compares exactly, as argmax does. The tie-aware rule also counts a
    candidate within `tie_tol` below the positive as ranking above it: the same two vectors can
    score an ulp apart depending on how the matrix product was blocked, so exact equality would
    miss ties that are real.
    """
    rows = np.arange(len(scores))
    pos_score = scores[rows, positive][:, None]
    others = np.ones(scores.shape, dtype=bool)
    others[rows, positive] = False
    greater = (scores > pos_score).sum(axis=1)
    before = ((scores == pos_score) & (np.arange(scores.shape[1]) < positive[:, None])).sum(axis=1)
    at_least = ((scores >= pos_score - tie_tol) & others).sum(axis=1)
    close = ((np.abs(scores - pos_score) <= tie_tol) & others).any(axis=1)
    return Ranks(
        first=1 + greater + before, tie_aware=1 + at_least, tied=close, n_candidates=np.isfinite(scores).sum(axis=1)
    )


def candidate_scores(vectors: np.ndarray, query_ids: np.ndarray, candidate_ids: np.ndarray) -> np.ndarray:
    """Cosine scores of each query against its own candidates.

    vectors: (items, dim) L2-normalised; query_ids: (rows,); candidate_ids: (rows, k) item ids,
    -1 = padding -> (rows, k) float32 with -inf at padding.

    Lists that share most of their items (label sets, answer pools, a gallery) become one matrix
    product against their union, which runs near peak FLOPs; measured on 2 cores that beats
    per-row products until the union is ~50x a list. Beyond 32x, each row is scored on its own
    (memory-bound, like the original loop, without its sorts).
    """
    n, k = candidate_ids.shape
    out = np.full((n, k), -np.inf, dtype=np.float32)
    if n == 0:
        return out
    queries = vectors[query_ids]
    if candidate_ids.strides[0] == 0:  # the same list for every row (a broadcast gallery)
        out[:] = queries @ vectors[candidate_ids[0]].T
        return out
    valid = candidate_ids >= 0
    safe = np.where(valid, candidate_ids, candidate_ids.max())
    used, inverse = np.unique(safe, return_inverse=True)
    if len(used) <= 32 * k:
        inverse = inverse.reshape(n, k)
        pool = vectors[used]
        step = max(1, _BLOCK_BYTES // max(1, len(used) * 4))
        for s in range(0, n, step):
            block = queries[s : s + step] @ pool.T
            out[s : s + step] = np.take_along_axis(block, inverse[s : s + step], axis=1)
    else:
        for i in range(n):
            out[i] = vectors[safe[i]] @ queries[i]
    out[~valid] = -np.inf
    return out


def rank_positives(
    vectors: np.ndarray,
    query_ids: np.ndarray,
    candidate_ids: np.ndarray,
    positive: np.ndarray,
    tie_tol: float = DEFAULT_TIE_TOL,
) -> Ranks:
    """Score and rank in blocks of rows, so a large gallery never needs a full score matrix."""
    block_rows = max(1, min(4096, (128 << 20) // max(1, candidate_ids.shape[1] * 4)))
    parts = []
    for s in range(0, len(query_ids), block_rows):
        scores = candidate_scores(vectors, query_ids[s : s + block_rows], candidate_ids[s : s + block_rows])
        parts.append(ranks_from_scores(scores, positive[s : s + block_rows], tie_tol))
    return Ranks(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("first", "tie_aware", "tied", "n_candidates"))
    )


def chance_recall(k: int, n_candidates: int) -> float:
    """Expected recall@k (a fraction) of a random ranking with one positive among `n_candidates`."""
    return min(k, n_candidates) / n_candidates


def summarize(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5, 10), ndcg_k: int = 10) -> dict[str, float]:
    """(rows,) 1-based ranks of the single positive -> metrics in percent.

    precision@1 (= hit@1), recall@k (positive in the top k), MRR, NDCG@k (one relevant item:
    1 / log2(rank + 1) within the top k, ideal DCG 1).
    """
    ranks = np.asarray(ranks)
    out = {"precision@1": float((ranks == 1).mean() * 100)}
    for k in ks:
        out[f"recall@{k}"] = float((ranks <= k).mean() * 100)
    out["mrr"] = float((1.0 / ranks).mean() * 100)
    gains = np.where(ranks <= ndcg_k, 1.0 / np.log2(ranks + 1.0), 0.0)
    out[f"ndcg@{ndcg_k}"] = float(gains.mean() * 100)
    return out


def summarize_ranks(r: Ranks, ks: tuple[int, ...] = (1, 5, 10), ndcg_k: int = 10) -> dict:
    """Both tie rules, tie counts and the chance level (expected P@1 of a random ranking)."""
    return {
        "original": summarize(r.first, ks, ndcg_k),
        "tie_aware": summarize(r.tie_aware, ks, ndcg_k),
        "tied_rows": int(r.tied.sum()),
        "rows": int(len(r.first)),
        "mean_candidates": float(r.n_candidates.mean()),
        "chance_precision@1": float((1.0 / r.n_candidates).mean() * 100),
    }
