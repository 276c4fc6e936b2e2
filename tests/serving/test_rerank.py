"""POST /v1/rerank (Cohere / Jina shape) and /v1/search with `rerank`, on a real uvicorn server:
the scores are `Reranker.score`'s, results are sorted, limits and model names are enforced."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from PIL import Image

from mme5.types import Item

from .conftest import data_url, png_bytes, running_server


@pytest.fixture(scope="module")
def reranker(tmp_path_factory):
    from mme5.model.reranker import Reranker
    from mme5.model.tiny import build_tiny

    return Reranker.from_pretrained(build_tiny("qwen3_vl", tmp_path_factory.mktemp("rr") / "r", reranker=True))


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, assets, embedder):
    from mme5.index.build import build_index

    root = tmp_path_factory.mktemp("corpus")
    (root / "cat.png").write_bytes((assets / "cat.png").read_bytes())
    rows = [{"text": f"a note about topic {i} and thing {i * 7}", "id": f"d{i}"} for i in range(8)]
    rows.append({"image": "cat.png", "text": "a cat", "id": "cat"})
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index(embedder, root / "corpus.jsonl", root / "index")
    return root / "index"


@pytest.fixture(scope="module")
def server(embedder, reranker, index_dir):
    from mme5.serving import ServerSettings, create_app
    from mme5.index.search import VectorIndex
    from mme5.serving.rerank import RerankService

    settings = ServerSettings(model_name="emb", max_items=6, max_queue_items=64, max_top_k=20)
    app = create_app(embedder, settings, VectorIndex.load(index_dir), RerankService(reranker, "rr", batch_size=4))
    with running_server(app) as url:
        yield url


IMAGE = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))


def test_rerank_scores_sorted_and_equal_to_the_model(server, reranker) -> None:
    docs = ["a bicycle", "pasta recipe", {"image": data_url(png_bytes(IMAGE)), "text": "a photo"}, "red bike"]
    body = {"model": "rr", "query": "a red bicycle", "documents": docs, "instruction": "Find bikes."}
    r = httpx.post(f"{server}/v1/rerank", json={**body, "return_documents": True}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected = reranker.score("a red bicycle", [*docs[:2], Item(image=IMAGE, text="a photo"), docs[3]], "Find bikes.")
    assert sorted(x["index"] for x in results) == [0, 1, 2, 3]
    for x in results:
        assert abs(x["relevance_score"] - expected[x["index"]]) < 1e-5
    assert [x["relevance_score"] for x in results] == sorted(expected, reverse=True)
    assert results[0]["document"] == ({"text": docs[results[0]["index"]]} if results[0]["index"] != 2 else docs[2])
    top = httpx.post(f"{server}/v1/rerank", json={**body, "top_n": 2}, timeout=60).json()["results"]
    assert [x["index"] for x in top] == [x["index"] for x in results[:2]] and "document" not in top[0]


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"model": "other"}, 404, "'other' is not served"),
        ({"documents": []}, 400, "documents is empty"),
        ({"documents": ["x"] * 7}, 400, "at most 6"),
        ({"top_n": 0}, 400, "top_n"),
        ({"query": {"image": "/etc/passwd"}}, 400, "query"),
    ],
)
def test_rerank_refusals_name_the_field(server, change, status, says) -> None:
    r = httpx.post(f"{server}/v1/rerank", json={"query": "q", "documents": ["a", "b"], **change}, timeout=60)
    assert r.status_code == status, r.text
    assert says in r.json()["error"]["message"]


def test_search_with_rerank_reorders_the_vector_hits(server, reranker, embedder, index_dir) -> None:
    from mme5.index.search import VectorIndex

    from .test_index import read_corpus

    plain = httpx.post(f"{server}/v1/search", json={"query": "topic 3", "top_k": 5}, timeout=60).json()["data"]
    body = {"query": "topic 3", "top_k": 3, "rerank": {"top_k": 5, "model": "rr"}}
    r = httpx.post(f"{server}/v1/search", json=body, timeout=60)
    assert r.status_code == 200, r.text
    hits = r.json()["data"]
    items, _ = read_corpus(VectorIndex.load(index_dir).info["corpus"]["path"])
    expected = reranker.score("topic 3", [items[h["index"]] for h in plain])
    best = np.argsort(-np.asarray(expected), kind="stable")[:3]
    assert [h["index"] for h in hits] == [plain[i]["index"] for i in best]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert np.allclose([h["rerank_score"] for h in hits], [expected[i] for i in best], atol=1e-5)
    too_deep = httpx.post(f"{server}/v1/search", json={**body, "rerank": {"top_k": 50}}, timeout=60)
    assert too_deep.status_code == 400 and "rerank.top_k=50" in too_deep.json()["error"]["message"]


def test_search_rerank_needs_a_reranker(embedder, index_dir) -> None:
    from mme5.serving import ServerSettings, create_app
    from mme5.index.search import VectorIndex

    app = create_app(embedder, ServerSettings(model_name="emb"), VectorIndex.load(index_dir))
    with running_server(app) as url:
        r = httpx.post(f"{url}/v1/search", json={"query": "q", "rerank": {"top_k": 5}}, timeout=60)
        assert r.status_code == 400 and "--reranker" in r.json()["error"]["message"]
        assert httpx.post(f"{url}/v1/rerank", json={"query": "q", "documents": ["a"]}, timeout=60).status_code == 404


def test_rerank_metrics_count_pairs_forwards_and_time(server) -> None:
    def value(name: str) -> float:
        text = httpx.get(f"{server}/metrics", timeout=30).text
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))

    before = {n: value(n) for n in ("mme5_rerank_pairs_total", "mme5_rerank_forwards_total", "mme5_rerank_seconds_count")}
    body = {"query": "a red bicycle", "documents": ["a bike", "pasta", "a very long note about bikes " * 9]}
    assert httpx.post(f"{server}/v1/rerank", json=body, timeout=60).status_code == 200
    after = {n: value(n) for n in before}
    assert after["mme5_rerank_pairs_total"] - before["mme5_rerank_pairs_total"] == 3
    assert 1 <= after["mme5_rerank_forwards_total"] - before["mme5_rerank_forwards_total"] <= 3
    assert after["mme5_rerank_seconds_count"] - before["mme5_rerank_seconds_count"] == 1
    assert 'mme5_requests_total{endpoint="/v1/rerank",status="200"}' in httpx.get(f"{server}/metrics", timeout=30).text
