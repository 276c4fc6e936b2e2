"""Compact indexes (binary / int8 prefixes + rescoring from memory-mapped vectors): the recall in
index.json is the recall the loaded index has against a numpy brute force, rescored hits carry
exact cosines, and a large enough shortlist gives exactly the float ranking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mme5.config import ConfigError
from mme5.index.build import IndexOptions, build_index
from mme5.index.sinks import held_out
from mme5.quantize import Int8Codec, truncate
from mme5.index.search import VectorIndex

from .conftest import corpus_vectors, exact_top_k
from .test_ann import NoEncode, ids, overlap


def held_out_queries(out):
    vectors = corpus_vectors(out)
    rows, _ = held_out(len(vectors), IndexOptions(), 0)
    return vectors, vectors[rows]


@pytest.mark.parametrize("kind, rescore", [("flat", "float"), ("hnsw", "int8"), ("ivf-flat", "float")])
def test_binary_with_rescoring_reports_the_recall_it_has(kind, rescore, from_shards, names_corpus, embedder):
    out = from_shards(f"binary-{kind}")
    opts = IndexOptions(kind=kind, quantize="binary", dim=32, rescore=rescore)
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=opts)
    info = index.info["index"]
    vectors, queries = held_out_queries(out)
    truth = exact_top_k(queries, vectors, 10)
    found = ids(index, queries)
    assert info["sink"] == "compact" and info["quantize"] == "binary" and info["type"] == kind
    if kind != "hnsw":  # the searched structure: 4 bytes of codes per vector (+ IVF ids); HNSW adds its graph
        assert info["bytes"] < 2000 * (32 // 8 + 8) + 4096
    assert info["recall_at_10"] == pytest.approx(overlap(found, truth), abs=1e-9)
    alone, served = info["recall_configurations"]
    assert alone["rescore"] == "none" and served["rescore"] == rescore and served["recall"] == info["recall_at_10"]
    assert served["recall"] >= alone["recall"] and served["recall"] >= 0.95
    assert info["search"]["rescore_factor"] == served["rescore_factor"]
    hits = index.search(queries[:5], 10)
    stored = (
        vectors
        if rescore == "float"
        else Int8Codec.from_json(info["rescore_int8"]).decode(np.load(out / "rescore.npy"))
    )
    for q, row in zip(queries[:5], hits):
        scores = [h.score for h in row]
        np.testing.assert_allclose(scores, stored[[h.index for h in row]] @ q, atol=1e-5)
        assert scores == sorted(scores, reverse=True)


def test_a_shortlist_holding_the_true_top_k_gives_the_float_ranking(from_shards, names_corpus, embedder):
    out = from_shards("exact")
    opts = IndexOptions(kind="flat", quantize="binary", dim=16, rescore_factor=200)  # shortlist = the whole corpus
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=opts)
    vectors, queries = held_out_queries(out)
    np.testing.assert_array_equal(ids(index, queries), exact_top_k(queries, vectors, 10))
    assert index.info["index"]["recall_at_10"] == 1.0


def test_int8_search_uses_the_recorded_ranges(from_shards, names_corpus, embedder):
    out = from_shards("int8")
    opts = IndexOptions(quantize="int8", dim=48, rescore="none")
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=opts)
    info = index.info["index"]
    codec = Int8Codec.from_json(info["int8"])
    vectors, queries = held_out_queries(out)
    prefix = truncate(vectors, 48)
    # faiss's 8-bit codes are the codec's (a bucket edge may round either way in float32)
    faiss_codes = index.faiss_index.sa_encode(np.ascontiguousarray(prefix)).astype(int) - 128
    assert np.abs(faiss_codes - codec.encode(prefix)).max() <= 1
    assert np.mean(faiss_codes == codec.encode(prefix)) > 0.999
    assert info["rescore_bytes"] == 0 and not (out / "rescore.npy").exists()
    decoded = codec.decode(codec.encode(prefix))
    truth = exact_top_k(queries, vectors, 10)
    assert info["recall_at_10"] == pytest.approx(overlap(ids(index, queries), truth), abs=1e-9)
    expected = exact_top_k(truncate(queries, 48), decoded, 10)
    assert overlap(ids(index, queries), expected) > 0.9  # faiss ranks by the same decoded vectors


def test_auto_picks_binary_when_full_vectors_do_not_fit(from_shards, names_corpus, embedder):
    out = from_shards("auto-binary")
    budget = 200_000  # float flat needs 2000 x 64 x 4 = 512,000 bytes; binary codes 16,000
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=IndexOptions(memory_budget=budget))
    info = json.loads((out / "index.json").read_text())["index"]
    assert (
        info["quantize"] == "binary"
        and info["type"] == "flat"
        and info["reason"].startswith("auto: full vectors do not fit")
    )
    assert info["bytes_estimate"] <= budget and info["bytes"] <= budget and info["rescore"] == "float"
    assert index.info["index"]["recall_at_10"] >= 0.95


def test_bad_compact_options(from_shards, names_corpus, embedder, tmp_path):
    out = from_shards("bad")
    with pytest.raises(ConfigError, match="--index hnsw with --quantize int8"):
        build_index(
            NoEncode(embedder), names_corpus, out, shard_size=500, index=IndexOptions(kind="hnsw", quantize="int8")
        )
    with pytest.raises(ConfigError, match="add --quantize binary or int8"):
        build_index(NoEncode(embedder), names_corpus, out, index=IndexOptions(dim=16))
    with pytest.raises(ConfigError, match="does not apply to --sink lance"):
        build_index(NoEncode(embedder), names_corpus, out, index=IndexOptions(quantize="binary", sink="lance"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "train_config.yaml").write_text("matryoshka_dims: [16, full]\n")
    untrained = IndexOptions(quantize="binary", dim=24, model_dirs=(str(model),))
    with pytest.raises(ConfigError, match="--dim 24 is not a trained prefix length.*--force-dim"):
        build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=untrained)
    forced = IndexOptions(quantize="binary", dim=24, model_dirs=(str(model),), force_dim=True, rescore="none")
    assert (
        build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=forced).info["index"]["params"]["dim"]
        == 24
    )
    assert VectorIndex.load(out).dim == 64


@pytest.mark.parametrize(
    "n, dim, budget, kind, quantize",
    [
        (2_000, 64, 200_000, "flat", "binary"),
        (100_000_000, 256, 8 * 2**30, "ivf-flat", "binary"),  # 40 bytes per vector with the IVF id
        (100_000_000, 4096, 8 * 2**30, "ivf-pq", "none"),  # 512-byte codes do not fit: PQ
    ],
)
def test_auto_turns_to_binary_codes_between_float_ivf_and_pq(n, dim, budget, kind, quantize):
    from mme5.index.ann import plan_auto

    plan = plan_auto(n, dim, budget)
    assert (plan.kind, plan.quantize) == (kind, quantize) and plan.bytes_estimate <= budget
