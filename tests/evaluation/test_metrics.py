"""Metrics against brute-force, independent computations (with ties), the original per-row
eval loop, and the collapsed-model trap."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mme5.evaluation.metrics import candidate_scores, rank_positives, summarize, summarize_ranks


def brute_force(vectors, query_ids, cand_lists, positives, ks=(1, 5, 10), ndcg_k=10):
    """Python-only reference: exact integer dot products, explicit sorts for both tie rules."""
    first, pessimistic = [], []
    for q, cands, p in zip(query_ids, cand_lists, positives):
        scores = [int(sum(int(a) * int(b) for a, b in zip(vectors[q], vectors[c]))) for c in cands]
        order_first = sorted(range(len(cands)), key=lambda j: (-scores[j], j))  # argmax: first max wins
        order_pess = sorted(range(len(cands)), key=lambda j: (-scores[j], j == p))  # positive after its ties
        first.append(order_first.index(p) + 1)
        pessimistic.append(order_pess.index(p) + 1)

    def metrics(ranks):
        n = len(ranks)
        out = {"precision@1": 100 * sum(r == 1 for r in ranks) / n}
        out.update({f"recall@{k}": 100 * sum(r <= k for r in ranks) / n for k in ks})
        out["mrr"] = 100 * sum(1 / r for r in ranks) / n
        out[f"ndcg@{ndcg_k}"] = 100 * sum(1 / math.log2(r + 1) if r <= ndcg_k else 0 for r in ranks) / n
        return out

    return first, pessimistic, metrics(first), metrics(pessimistic)


def ragged_problem(rng, n_items, n_rows, k_range, dim=6, levels=2):
    """Small-integer vectors (exact float32 dot products, many ties), ragged candidate lists."""
    vectors = rng.integers(-levels, levels + 1, (n_items, dim)).astype(np.float32)
    query_ids = rng.integers(0, n_items, n_rows)
    lists = [list(rng.choice(n_items, size=rng.integers(*k_range), replace=False)) for _ in range(n_rows)]
    positives = [int(rng.integers(0, len(c))) for c in lists]
    cand = np.full((n_rows, max(map(len, lists))), -1, dtype=np.int64)
    for i, c in enumerate(lists):
        cand[i, : len(c)] = c
    return vectors, query_ids, lists, positives, cand


@pytest.mark.parametrize("n_items,k_range", [(40, (2, 12)), (3000, (2, 12))], ids=["shared-pool", "large-pool"])
def test_ranks_and_metrics_match_brute_force_with_ties(n_items, k_range):
    rng = np.random.default_rng(1)
    vectors, query_ids, lists, positives, cand = ragged_problem(rng, n_items, 300, k_range)
    ref_first, ref_pess, ref_orig, ref_tie = brute_force(vectors, query_ids, lists, positives)
    ranks = rank_positives(vectors, query_ids, cand, np.asarray(positives), tie_tol=0.0)
    assert ranks.first.tolist() == ref_first
    assert ranks.tie_aware.tolist() == ref_pess
    assert ranks.tied.sum() > 20, "the problem must actually contain ties"
    assert (ranks.first != ranks.tie_aware).any()
    summary = summarize_ranks(ranks)
    for key, value in ref_orig.items():
        assert summary["original"][key] == pytest.approx(value)
        assert summary["tie_aware"][key] == pytest.approx(ref_tie[key])
    assert summary["chance_precision@1"] == pytest.approx(100 * np.mean([1 / len(c) for c in lists]))


def test_broadcast_gallery_matches_brute_force():
    rng = np.random.default_rng(2)
    vectors = rng.integers(-2, 3, (50, 5)).astype(np.float32)
    gallery = np.arange(20, 50)
    query_ids = np.arange(20)
    positives = rng.integers(0, 30, 20)
    ref_first, ref_pess, _, _ = brute_force(vectors, query_ids, [list(gallery)] * 20, positives)
    ranks = rank_positives(vectors, query_ids, np.broadcast_to(gallery, (20, 30)), positives, tie_tol=0.0)
    assert ranks.first.tolist() == ref_first and ranks.tie_aware.tolist() == ref_pess


def test_matches_the_original_per_row_numpy_loop():
    """No ties (continuous vectors): identical P@1 and R@10 to argmax / argsort per row."""
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((700, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cand = np.stack([200 + rng.permutation(500)[:50] for _ in range(200)])
    hits, recalls = [], []
    for i in range(200):
        scores = np.dot(vectors[cand[i]], vectors[i])
        hits.append(np.argmax(scores) == 0)
        recalls.append(0 in np.argsort(scores)[-10:][::-1])
    ranks = rank_positives(vectors, np.arange(200), cand, np.zeros(200, dtype=np.int64))
    out = summarize(ranks.first)
    assert out["precision@1"] == pytest.approx(100 * np.mean(hits))
    assert out["recall@10"] == pytest.approx(100 * np.mean(recalls))
    assert (ranks.first == ranks.tie_aware).all()


def test_collapsed_model_is_perfect_under_the_original_rule_and_worst_when_tie_aware():
    vectors = np.tile(np.float32([0.6, 0.8]), (30, 1))  # every embedding identical
    cand = np.stack([np.arange(10, 30)] * 10)  # 20 candidates, positive = column 0
    ranks = rank_positives(vectors, np.arange(10), cand, np.zeros(10, dtype=np.int64))
    summary = summarize_ranks(ranks, ks=(1, 10))
    assert summary["original"]["precision@1"] == 100.0
    assert summary["original"]["recall@10"] == 100.0
    assert summary["tie_aware"]["precision@1"] <= summary["chance_precision@1"]
    assert summary["tie_aware"]["precision@1"] == 0.0 and summary["tie_aware"]["recall@10"] == 0.0
    assert summary["tied_rows"] == 10


def test_tie_tolerance_catches_rounding_level_ties_only_for_the_tie_aware_rule():
    scores = np.array([[0.5, 0.5 + 1e-7, 0.4], [0.5, 0.5 - 1e-7, 0.49]], dtype=np.float64)
    from mme5.evaluation.metrics import ranks_from_scores

    exact = ranks_from_scores(scores, np.zeros(2, dtype=np.int64), tie_tol=0.0)
    loose = ranks_from_scores(scores, np.zeros(2, dtype=np.int64), tie_tol=1e-6)
    assert exact.first.tolist() == loose.first.tolist() == [2, 1]  # the original rule is exact argmax
    assert exact.tie_aware.tolist() == [2, 1] and loose.tie_aware.tolist() == [2, 2]
    assert loose.tied.tolist() == [True, True] and exact.tied.tolist() == [False, False]


def test_padding_never_outranks_and_scores_are_cosines():
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((10, 8)).astype(np.float32)
    cand = np.array([[1, 2, -1, -1], [3, 4, 5, 6]])
    scores = candidate_scores(vectors, np.array([0, 7]), cand)
    assert np.isneginf(scores[0, 2:]).all()
    np.testing.assert_allclose(scores[1], vectors[[3, 4, 5, 6]] @ vectors[7], rtol=1e-5)
    ranks = rank_positives(vectors, np.array([0, 7]), cand, np.array([1, 0]))
    assert ranks.n_candidates.tolist() == [2, 4] and ranks.first[0] <= 2
