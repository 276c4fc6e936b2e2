"""MMEB-V2 metrics against hand computations, and blocked corpus ranking against a full sort."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mme5.evaluation.mmeb_v2.metrics import published_pairing, ranking_metrics, score_keys
from mme5.evaluation.mmeb_v2.ranking import rank_global, rank_local


def test_hand_computed_graded_query():
    """Labels at ranks 1 and 3 with grades 2 and 1."""
    m = ranking_metrics([np.array([1, 3])], [np.array([2.0, 1.0])])
    assert m["hit@1"] == 1 and m["precision@1"] == 1 and m["recall@1"] == 0.5
    assert m["f1@1"] == pytest.approx(2 * 0.5 / 1.5)
    assert m["precision@5"] == pytest.approx(0.4) and m["recall@5"] == 1
    assert m["f1@5"] == pytest.approx(2 * 0.4 / 1.4)
    assert m["map@5"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert m["map@1"] == pytest.approx(1.0)  # normalised by min(#labels, k) = 1
    assert m["mrr@1"] == 1
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg_linear@5"] == pytest.approx((2 + 1 / math.log2(4)) / idcg)
    assert m["ndcg_exponential@5"] == pytest.approx((3 + 1 / 2) / (3 + 1 / math.log2(3)))
    assert m["ndcg_linear@1"] == pytest.approx(1.0)


def test_beyond_cutoff_and_mean_over_queries():
    m = ranking_metrics([np.array([0]), np.array([2])])
    assert m["hit@1"] == 0 and m["hit@5"] == 0.5
    assert m["mrr@5"] == pytest.approx(0.25) and m["mrr@1"] == 0
    assert m["ndcg_linear@5"] == pytest.approx(0.5 / math.log2(3))
    assert list(m) == score_keys()


def test_published_pairing_changes_only_mixed_grades():
    labels, grades = ["p7", "p3", "p9"], [3.0, 2.0, 2.0]
    pairing = published_pairing(labels, grades)
    assert sorted(pairing.values()) == sorted(grades)
    order = list(set(labels))
    assert pairing == dict(zip(order, grades))
    ranks = [np.array([1, 2, 3])]
    correct = ranking_metrics(ranks, [np.array(grades)])
    quirk = ranking_metrics(ranks, [np.array(grades)], dcg_grades=[np.array([pairing[lab] for lab in labels])])
    assert correct["ndcg_linear@5"] == pytest.approx(1.0)
    assert (quirk["ndcg_linear@5"] < 1.0) == (order[0] != "p7")


def _reference(scores: np.ndarray, labels: np.ndarray, pessimistic: bool) -> list[int]:
    """Full sort; ties by index, or (pessimistic) non-labels before labels."""
    is_label = np.isin(np.arange(len(scores)), labels)
    keys = (np.arange(len(scores)), is_label) if pessimistic else (np.arange(len(scores)),)
    order = np.lexsort((*keys, -scores))
    rank = {int(d): i + 1 for i, d in enumerate(order)}
    return [rank[int(lab)] if rank[int(lab)] <= 10 else 0 for lab in labels]


@pytest.mark.parametrize("block_bytes", [4 << 10, 64 << 20])
def test_global_ranking_matches_full_sort_with_ties(block_bytes):
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 3, (500, 8)).astype(np.float32)  # integer dots: many exact ties
    queries = rng.integers(0, 3, (40, 8)).astype(np.float32)
    labels = [rng.choice(500, size=rng.integers(1, 4), replace=False) for _ in range(40)]
    got = rank_global(queries, corpus, labels, k=10, tie_tol=0.0, block_bytes=block_bytes)
    for i in range(40):
        s = corpus @ queries[i]
        assert got.first[i].tolist() == _reference(s, labels[i], False)
        assert got.tie_aware[i].tolist() == _reference(s, labels[i], True)
        assert got.top[i].tolist() == np.lexsort((np.arange(500), -s))[:10].tolist()
    assert got.tied.any()


def test_local_ranking_and_collapsed_model():
    """All scores equal: original rule gives list order, tie-aware puts the labels last."""
    vectors = np.ones((5, 4), dtype=np.float32) / 2
    got = rank_local(vectors[:1], vectors, [np.array([3, 1, 2, 4])], [np.array([3])])
    assert got.first[0].tolist() == [1] and got.tie_aware[0].tolist() == [4]
    assert got.top[0][:4].tolist() == [3, 1, 2, 4] and got.tied[0]
    big = rank_global(np.ones((2, 4), np.float32), np.ones((50, 4), np.float32), [np.array([0]), np.array([49])], k=10)
    assert [r.tolist() for r in big.first] == [[1], [0]] and [r.tolist() for r in big.tie_aware] == [[0], [0]]
