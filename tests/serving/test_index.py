"""`mme5 index build` + POST /v1/search: exact vectors, brute-force-equal rankings, resumable builds."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from mme5.index.build import build_index
from mme5.index.corpus import base_dir, open_corpus, to_item
from mme5.index.search import VectorIndex
from mme5.index.shards import SHARDS_DIR
from mme5.types import InputError, Item

from .conftest import data_url, running_server


@pytest.fixture
def corpus(tmp_path, assets):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "cat.png").write_bytes((assets / "cat.png").read_bytes())
    rows = [{"text": f"document number {i} about topic {i % 3}", "id": f"doc{i}", "meta": {"n": i}} for i in range(7)]
    rows += [{"image": "img/cat.png", "id": "cat"},
             {"image": "img/cat.png", "text": "a cat", "instruction": "Represent the image:", "language": "en"}]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_corpus(path):
    """A corpus -> its items (as the engines parse them) and records, every row validated."""
    corpus = open_corpus(path)
    records = corpus.records(0, len(corpus))
    return [to_item(r, base_dir(corpus), f"{path}: item {i}") for i, r in enumerate(records)], records


def brute_force(query: np.ndarray, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return order, scores[order]


def test_cli_build_then_search_equals_brute_force(corpus, tmp_path, tiny_dirs, embedder, capsys):
    from mme5.cli.main import main

    out = tmp_path / "index"
    assert main(["index", "build", "--input", str(corpus), "--output", str(out), "--model", str(tiny_dirs("mllama")),
                 "--shard-size", "4"]) == 0
    index = VectorIndex.load(out)
    items, records = read_corpus(corpus)
    vectors = index.faiss_index.reconstruct_n(0, len(index))
    np.testing.assert_allclose(vectors, embedder.encode(items), atol=1e-5)
    assert records[7]["item"] == {"image": "img/cat.png"} and records[0]["meta"] == {"n": 0}
    info = json.loads((out / "index.json").read_text())
    assert info["model"]["fingerprint"] == embedder.fingerprint and info["corpus"]["count"] == 9
    assert info["config"]["shard_size"] == 4 and "torch" in info["versions"]
    assert len(list((out / SHARDS_DIR).glob("shard-*.parquet"))) == 3  # kept: records + resume unit
    assert info["index"]["type"] == "flat" and info["index"]["recall_at_10"] == 1.0

    query = embedder.encode([Item(text="topic 1")])
    hits = index.search(query, 5)[0]
    order, scores = brute_force(query[0], vectors, 5)
    assert [h.index for h in hits] == order.tolist()
    np.testing.assert_allclose([h.score for h in hits], scores, atol=1e-5)

    assert main(["index", "search", str(out), "--text", "topic 1", "--top-k", "3", "--model", str(tiny_dirs("mllama")),
                 "--instruction", ""]) == 0  # the bare query, as above (the recorded instruction: test_index_prompts)
    printed = capsys.readouterr().out.strip().splitlines()[-3:]
    assert [line.split()[2] for line in printed] == [records[i]["id"] for i in order[:3]]


class FailingAfter:
    """The real embedder, interrupted (like a killed job) after `n` encode calls (one per shard); counts calls."""

    def __init__(self, inner, n: int | None) -> None:
        self.inner, self.n, self.calls = inner, n, 0

    def encode(self, items, batch_size=16, **options):
        if self.n is not None and self.calls >= self.n:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        return self.inner.encode(items, batch_size=batch_size, **options)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_interrupted_build_resumes_with_only_missing_chunks(corpus, tmp_path, embedder):
    out = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        build_index(FailingAfter(embedder, 2), corpus, out, shard_size=2)
    assert len(list((out / SHARDS_DIR).glob("shard-*.parquet"))) == 2
    resumed = FailingAfter(embedder, None)
    index = build_index(resumed, corpus, out, shard_size=2)
    assert resumed.calls == 3  # 9 items in chunks of 2 = 5 chunks, 2 already done
    fresh = build_index(embedder, corpus, tmp_path / "fresh", shard_size=2)
    np.testing.assert_array_equal(index.faiss_index.reconstruct_n(0, 9), fresh.faiss_index.reconstruct_n(0, 9))


def test_changed_corpus_discards_partial_build(corpus, tmp_path, embedder):
    out = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        build_index(FailingAfter(embedder, 2), corpus, out, shard_size=2)
    corpus.write_text(corpus.read_text() + json.dumps({"text": "one more"}) + "\n")
    counted = FailingAfter(embedder, None)
    assert len(build_index(counted, corpus, out, shard_size=2)) == 10
    assert counted.calls == 5


@pytest.mark.parametrize("line, message", [
    ("{not json", "invalid JSON"), ("[1, 2]", "expected a JSON object"),
    ('{"txt": "a"}', "unknown field"), ('{"id": "x"}', "is empty: give at least one of"),
    ('{"text": 3}', "field 'text' must be a string"), ('{"text": " ", "instruction": "\\t"}', "is empty"),
])
def test_bad_corpus_rows_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(InputError, match=rf"c\.jsonl:2\b.*{message}"):
        read_corpus(path)


def test_index_from_another_model_is_refused(corpus, tmp_path, embedder):
    from mme5.serving import create_app

    index = build_index(embedder, corpus, tmp_path / "index")
    index.info["model"]["fingerprint"] = "0123456789abcdef"
    with pytest.raises(ValueError, match="pass the --model"):
        create_app(embedder, index=index)


def test_search_endpoint_on_emoji_data(emoji_dir, tmp_path, embedder):
    """The retrieval demo on real data: 60 emoji images, queried by image and by CLDR name."""
    from mme5.serving import ServerSettings, create_app

    rows = [json.loads(line) for line in (emoji_dir / "emoji.jsonl").read_text(encoding="utf-8").splitlines()[:60]]
    corpus = tmp_path / "emoji_corpus.jsonl"
    corpus.write_text("".join(json.dumps({"image": str(emoji_dir / r["image"]), "id": r["id"],
                                          "meta": {"emoji": r["emoji"], "name": r["name"]["en"]}},
                                         ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    index = build_index(embedder, corpus, tmp_path / "index")
    vectors = index.faiss_index.reconstruct_n(0, len(index))
    target = rows[17]
    with running_server(create_app(embedder, ServerSettings(model_name="tiny", max_top_k=20), index)) as url:
        by_image = httpx.post(f"{url}/v1/search", json={
            "query": {"image": data_url((emoji_dir / target["image"]).read_bytes()), "instruction": None},  # as indexed
            "top_k": 3}, timeout=30)
        assert by_image.status_code == 200, by_image.text
        top = by_image.json()["data"][0]
        assert top["id"] == target["id"] and top["meta"]["emoji"] == target["emoji"]
        assert top["score"] == pytest.approx(1.0, abs=1e-5) and top["rank"] == 1

        by_name = httpx.post(f"{url}/v1/search", json={"query": target["name"]["de"], "top_k": 5, "model": "tiny"}, timeout=30)
        hits = by_name.json()["data"]
        query = embedder.encode([Item(text=target["name"]["de"], instruction=index.query_instruction)])[0]
        order, scores = brute_force(query, vectors, 5)
        assert [h["index"] for h in hits] == order.tolist()
        np.testing.assert_allclose([h["score"] for h in hits], scores, atol=1e-5)
        assert [h["id"] for h in hits] == [rows[i]["id"] for i in order]

        too_many = httpx.post(f"{url}/v1/search", json={"query": "x", "top_k": 21}, timeout=30)
        assert too_many.status_code == 400 and "top_k" in too_many.json()["error"]["message"]
        assert httpx.get(f"{url}/health", timeout=30).json()["index_size"] == 60


def test_search_without_index_is_404(server):
    response = httpx.post(f"{server}/v1/search", json={"query": "x"}, timeout=30)
    assert response.status_code == 404 and "--index" in response.json()["error"]["message"]
