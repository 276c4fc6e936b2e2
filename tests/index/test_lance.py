"""`--sink lance`: a real embedded LanceDB table with an IVF-PQ index, searched through the same
VectorIndex and /v1/search as faiss; its recorded recall is the recall a numpy brute force finds."""
from __future__ import annotations

import numpy as np
import pytest

from mme5.index.build import build_index
from mme5.index.sinks import IndexOptions, held_out
from mme5.types import Item

from .conftest import corpus_vectors, exact_top_k
from .test_ann import NoEncode, ids, overlap

lancedb = pytest.importorskip("lancedb")


@pytest.fixture
def lance_index(from_shards, names_corpus, embedder):
    out = from_shards("lance")
    return out, build_index(NoEncode(embedder), names_corpus, out, shard_size=500,
                            index=IndexOptions(kind="ivf-pq", sink="lance"))


def test_lance_table_has_an_ann_index_and_true_recall(lance_index):
    out, index = lance_index
    info = index.info["index"]
    table = lancedb.connect(str(out / "lance")).open_table("items")
    assert table.count_rows() == len(index) == 2000
    assert [i.index_type for i in table.list_indices()] == ["IvfPq"]
    assert info["sink"] == "lance" and info["type"] == "ivf-pq" and info["bytes"] > 0

    vectors = corpus_vectors(out)
    rows, _ = held_out(len(vectors), IndexOptions(), 0)
    truth = exact_top_k(vectors[rows], vectors, 10)
    assert info["recall_at_10"] == pytest.approx(overlap(ids(index, vectors[rows]), truth), abs=1e-9)
    nlist = info["params"]["nlist"]
    assert overlap(ids(index, vectors[rows], nprobe=nlist), truth) >= 0.95  # all partitions, exact re-rank
    assert overlap(ids(index, vectors[rows], nprobe=1), truth) < overlap(ids(index, vectors[rows], nprobe=nlist), truth)
    hits = index.search(vectors[rows[:3]], 5, nprobe=nlist)
    for query, row_hits in zip(vectors[rows[:3]], hits):  # scores are exact dot products (refined)
        np.testing.assert_allclose([h.score for h in row_hits], vectors[[h.index for h in row_hits]] @ query, atol=1e-4)


def test_serve_searches_a_lance_index(lance_index, embedder):
    from fastapi.testclient import TestClient

    from mme5.serving import ServerSettings, create_app
    from mme5.index.search import VectorIndex

    out, _ = lance_index
    index = VectorIndex.load(out)  # what `mme5 serve --index DIR` does
    query = embedder.encode([Item(text="Flagge: Japan", instruction=index.query_instruction)])  # as /v1/search does
    expected = index.search(query, 5)[0]
    with TestClient(create_app(embedder, ServerSettings(model_name="tiny"), index)) as client:
        body = client.post("/v1/search", json={"query": "Flagge: Japan", "top_k": 5}).json()["data"]
    assert [h["index"] for h in body] == [h.index for h in expected]
    assert [h["id"] for h in body] == [index.records[h.index]["id"] for h in expected]
    np.testing.assert_allclose([h["score"] for h in body], [h.score for h in expected], atol=1e-5)
