"""Ranking a pool for many queries: the top-k predictions and the rank of every label, under
both tie rules, without ever sorting a whole score row.

- "original": candidates ordered by score, ties broken by pool order (numpy's stable order; the
  published code's unstable `argsort(-scores)` has no defined order on ties).
- "tie_aware" (pessimistic): a label ranks below every non-label scoring within `tie_tol` of it
  (and below labels that score higher, or the same and come earlier in the pool).

Global pools (a whole corpus) are scored in blocks of queries (one matrix product per block);
`np.partition` finds each row's k-th best score t, and only the
items scoring >= t - tie_tol (about k of them, unless the model ties everything) are ranked
exactly; `block_bytes` bounds the working memory of a block (scores, a partitioned copy, a
mask). Every metric here is cut at k, so a label scoring below t has rank "beyond k" (0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import DEFAULT_TIE_TOL

DEFAULT_BLOCK_BYTES = 256 << 20
BYTES_PER_SCORE = 9  # float32 scores + their partitioned float32 copy + a bool mask


@dataclass
class LabelRanks:
    """Per query: top-k pool indices (original rule, -1 padding) and, aligned with its labels,
    1-based ranks under both rules (0 = beyond the top k); `tied` marks queries where a label
    ties another candidate within the tolerance."""

    top: np.ndarray  # (queries, k) int64
    first: list[np.ndarray]
    tie_aware: list[np.ndarray]
    tied: np.ndarray  # (queries,) bool


def rank_subset(
    scores: np.ndarray, order_key: np.ndarray, is_label: np.ndarray, k: int, tie_tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """One query over the items that can reach its top k: (top-k positions into the subset, label
    positions, their original ranks, their tie-aware ranks, tied?) - labels in subset order."""
    order = np.lexsort((order_key, -scores))
    rank_of = np.empty(len(scores), dtype=np.int64)
    rank_of[order] = np.arange(1, len(scores) + 1)
    lab = np.flatnonzero(is_label)
    first = rank_of[lab]
    s_lab = scores[lab]
    non = scores[~is_label]
    # non-labels within the tolerance below (or anywhere above) each label
    above_non = (non[None, :] >= s_lab[:, None] - tie_tol).sum(axis=1)
    ahead_lab = (
        (s_lab[None, :] > s_lab[:, None])
        | ((s_lab[None, :] == s_lab[:, None]) & (order_key[lab][None, :] < order_key[lab][:, None]))
    ).sum(axis=1)
    tied = bool((np.abs(non[None, :] - s_lab[:, None]) <= tie_tol).any()) if len(lab) and len(non) else False
    return order[:k], lab, first, 1 + above_non + ahead_lab, tied


def rank_global(
    queries: np.ndarray,
    corpus: np.ndarray,
    labels: list[np.ndarray],
    k: int = 10,
    tie_tol: float = DEFAULT_TIE_TOL,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> LabelRanks:
    """Rank the whole `corpus` (n, dim) for every query (q, dim); `labels[i]` are pool indices."""
    nq, nc = len(queries), len(corpus)
    k_eff = min(k, nc)
    top = np.full((nq, k), -1, dtype=np.int64)
    first: list[np.ndarray] = []
    tie: list[np.ndarray] = []
    tied = np.zeros(nq, dtype=bool)
    # per score: the float32 block, its partitioned copy and the boolean mask
    step = max(1, block_bytes // max(1, nc * BYTES_PER_SCORE))
    for s in range(0, nq, step):
        block = queries[s : s + step] @ corpus.T
        kth = np.partition(block, nc - k_eff, axis=1)[:, nc - k_eff]
        rows, cols = np.nonzero(block >= (kth - tie_tol)[:, None])
        bounds = np.searchsorted(rows, np.arange(len(block) + 1))
        for r in range(len(block)):
            i = s + r
            idx = cols[bounds[r] : bounds[r + 1]]
            lab_all = np.asarray(labels[i], dtype=np.int64)
            sc = block[r, idx]
            in_sub = np.isin(idx, lab_all)
            top_pos, lab_pos, f, t, tied[i] = rank_subset(sc, idx, in_sub, k_eff, tie_tol)
            top[i, : len(top_pos)] = idx[top_pos]
            first.append(_align(lab_all, idx[lab_pos], f, k))
            tie.append(_align(lab_all, idx[lab_pos], t, k))
        del block, kth, rows, cols  # free this block before the next product is allocated
    return LabelRanks(top, first, tie, tied)


def _align(labels: np.ndarray, found: np.ndarray, ranks: np.ndarray, k: int) -> np.ndarray:
    """Ranks in the order of `labels`; a label ranked below k or outside the subset is 0."""
    out = np.zeros(len(labels), dtype=np.int64)
    where = {int(p): int(r) for p, r in zip(found, ranks)}
    for j, lab in enumerate(labels.tolist()):
        rank = where.get(lab, 0)
        out[j] = rank if rank <= k else 0
    return out


def rank_local(
    query_vectors: np.ndarray,
    pool_vectors: np.ndarray,
    candidates: list[np.ndarray],
    labels: list[np.ndarray],
    k: int = 10,
    tie_tol: float = DEFAULT_TIE_TOL,
) -> LabelRanks:
    """Each query ranks only its own `candidates[i]` (pool indices, in list order = tie order)."""
    nq = len(query_vectors)
    top = np.full((nq, k), -1, dtype=np.int64)
    first: list[np.ndarray] = []
    tie: list[np.ndarray] = []
    tied = np.zeros(nq, dtype=bool)
    for i in range(nq):
        cand = np.asarray(candidates[i], dtype=np.int64)
        sc = pool_vectors[cand] @ query_vectors[i]
        lab_all = np.asarray(labels[i], dtype=np.int64)
        top_pos, lab_pos, f, t, tied[i] = rank_subset(
            sc, np.arange(len(cand)), np.isin(cand, lab_all), min(k, len(cand)), tie_tol
        )
        top[i, : len(top_pos)] = cand[top_pos]
        first.append(_align(lab_all, cand[lab_pos], f, k))
        tie.append(_align(lab_all, cand[lab_pos], t, k))
    return LabelRanks(top, first, tie, tied)
