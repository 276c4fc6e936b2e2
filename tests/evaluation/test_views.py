"""Vector views in evaluation: binary + rescoring ranks exactly as a shortlist re-ranked by the
float vectors, computed here query by query."""

from __future__ import annotations

import numpy as np

from mme5.evaluation.data import EvalData, Ranking
from mme5.evaluation.views import score_views


def test_binary_rescore_view_matches_a_per_query_shortlist_rerank():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(230, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries, gallery = np.arange(30), np.arange(30, 230)  # 30 queries, a gallery of 200
    positive = np.argmax(vectors[queries] @ vectors[gallery].T, axis=1)  # each query's float nearest neighbour
    data = EvalData(
        task="t",
        items=[],
        query_ids=queries,
        rows_total=30,
        occurrences=230,
        rankings={"row": Ranking(np.broadcast_to(gallery, (30, 200)).copy(), positive, "gallery")},
    )
    got = score_views(data, vectors, ("full-binary+rescore1", "full-binary", "full-binary+rescore4"), "recall@10", 1e-6)
    signs = np.where(vectors > 0, 1.0, -1.0)
    hits, binary_hits, hits4 = [], [], []
    for q, pos in zip(queries, positive):
        compact = signs[gallery] @ signs[q]
        shortlist = np.argsort(-compact, kind="stable")[:10]  # rescore factor 1: 10 rows
        exact = vectors[gallery[shortlist]] @ vectors[q]
        top10 = shortlist[np.argsort(-exact, kind="stable")]
        hits.append(pos in top10)
        hits4.append(pos in np.argsort(-compact, kind="stable")[:40])  # the float NN is rescored to rank 1
        # the original rule: ties broken by gallery position
        first = 1 + (compact > compact[pos]).sum() + ((compact == compact[pos]) & (np.arange(200) < pos)).sum()
        binary_hits.append(first <= 10)
    assert got["full-binary+rescore1"]["recall@10"] == 100 * np.mean(hits)
    assert got["full-binary+rescore1"]["bytes_per_vector"] == 2
    assert got["full-binary"]["recall@10"] == 100 * np.mean(binary_hits)
    assert got["full-binary+rescore4"]["recall@10"] == 100 * np.mean(hits4) > got["full-binary"]["recall@10"]
