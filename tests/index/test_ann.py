"""Index types over real vectors: the recall written to index.json is the recall a numpy brute
force finds, the tuned knob is the smallest reaching the target, knobs change results, and rebuilding
with another type re-embeds nothing."""

from __future__ import annotations

import numpy as np
import pytest

from mme5.config import ConfigError
from mme5.index.ann import K_FACTORS, parse_bytes, plan_auto, plan_index, search_params
from mme5.index.build import build_index
from mme5.index.sinks import IndexOptions, held_out
from mme5.index.search import VectorIndex
from mme5.types import InputError

from .conftest import corpus_vectors, exact_top_k

GiB = 2**30


class NoEncode:
    """The real embedder, except that encoding anything fails the test (shards must be reused)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def encode(self, *args, **kwargs):
        raise AssertionError("the build re-embedded items although every shard was written")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def overlap(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found.tolist(), truth.tolist())]))


def ids(index: VectorIndex, queries: np.ndarray, k: int = 10, **knobs) -> np.ndarray:
    return np.array([[h.index for h in hits] for hits in index.search(queries, k, **knobs)])


@pytest.mark.parametrize("kind", ["ivf-flat", "ivf-pq", "hnsw"])
def test_each_type_reports_the_recall_it_has(kind, from_shards, names_corpus, embedder):
    out = from_shards(kind)
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=IndexOptions(kind=kind))
    info = index.info["index"]
    vectors = corpus_vectors(out)
    rows, _ = held_out(len(vectors), IndexOptions(), 0)
    truth = exact_top_k(vectors[rows], vectors, 10)
    assert info["type"] == kind and info["recall_queries"] == len(rows) == 200
    assert info["recall_at_10"] == pytest.approx(overlap(ids(index, vectors[rows]), truth), abs=1e-9)
    knob, curve = index.knob, info["recall_curve"]
    assert curve[-1][knob] == info["search"][knob] == index.default_knob
    assert info["recall_at_10"] == curve[-1]["recall"] >= 0.95
    # the smallest value that reaches the target; IVF-PQ then sweeps k_factor at that nprobe
    first = next(i for i, row in enumerate(curve) if row["recall"] >= 0.95)
    sweeps = [curve[: first + 1], curve[first + 1 :]] if kind == "ivf-pq" else [curve]
    assert all(row["recall"] < 0.95 for sweep in sweeps for row in sweep[:-1])
    if kind == "ivf-pq":
        assert info["params"]["refine"] == 1 and info["factory"].endswith(",RFlat")
        assert curve[-1]["k_factor"] == info["search"]["k_factor"] == index.searcher.faiss_index.k_factor
    assert info["bytes"] == (out / "index.faiss").stat().st_size


def test_knobs_change_results_and_full_effort_is_exact(from_shards, names_corpus, embedder):
    out = from_shards("ivf")
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=IndexOptions(kind="ivf-flat"))
    vectors = corpus_vectors(out)
    queries = vectors[::37]
    truth = exact_top_k(queries, vectors, 10)
    nlist = index.info["index"]["params"]["nlist"]
    assert overlap(ids(index, queries, nprobe=nlist), truth) >= 0.99  # every list scanned = exact (up to ties)
    assert overlap(ids(index, queries, nprobe=1), truth) < overlap(ids(index, queries, nprobe=nlist), truth)
    server_default = VectorIndex.load(out, nprobe=1)
    np.testing.assert_array_equal(ids(server_default, queries), ids(index, queries, nprobe=1))
    with pytest.raises(InputError, match="ef_search does not apply to this ivf-flat index"):
        index.search(queries, 3, ef_search=64)
    with pytest.raises(InputError, match="nprobe must be >= 1"):
        index.search(queries, 3, nprobe=0)


def test_hnsw_with_a_large_candidate_list_is_near_exact(from_shards, names_corpus, embedder):
    out = from_shards("hnsw")
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=IndexOptions(kind="hnsw"))
    vectors = corpus_vectors(out)
    truth = exact_top_k(vectors[::41], vectors, 10)
    assert overlap(ids(index, vectors[::41], ef_search=1024), truth) >= 0.99
    with pytest.raises(InputError, match="nprobe does not apply"):
        index.search(vectors[:1], 3, nprobe=4)


def test_pq_rerank_scores_exactly_and_k_factor_matters(from_shards, names_corpus, embedder):
    out = from_shards("pq")
    index = build_index(NoEncode(embedder), names_corpus, out, shard_size=500, index=IndexOptions(kind="ivf-pq"))
    loaded = VectorIndex.load(out)  # the tuned k_factor travels inside index.faiss
    faiss_index = loaded.searcher.faiss_index
    assert faiss_index.k_factor == index.info["index"]["search"]["k_factor"]
    vectors = corpus_vectors(out)
    queries = vectors[::23]
    truth = exact_top_k(queries, vectors, 10)
    nlist = index.info["index"]["params"]["nlist"]

    def search(k_factor):
        return faiss_index.search(queries, 10, params=search_params("ivf-pq", nlist, faiss_index, k_factor))

    scores, rows = search(K_FACTORS[-1])
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[rows]), atol=1e-5)  # exact re-rank
    assert overlap(rows, truth) >= 0.99  # every list scanned + enough candidates = exact
    assert overlap(search(1)[1], truth) < overlap(rows, truth)  # PQ order alone loses neighbours


def test_pq_under_a_tight_budget_takes_a_code_that_fits(from_shards, names_corpus, embedder):
    out = from_shards("pq-budget")
    budget = 200_000  # flat alone needs 2000 x 64 x 4 = 512,000 bytes (auto picks binary codes: test_compact)
    index = build_index(
        NoEncode(embedder), names_corpus, out, shard_size=500, index=IndexOptions(kind="ivf-pq", memory_budget=budget)
    )
    info = index.info["index"]
    assert info["type"] == "ivf-pq" and "no exact re-rank" in info["reason"]
    assert info["bytes_estimate"] <= budget and info["bytes"] <= budget
    assert info["params"]["refine"] == 0 and "search" in info and "k_factor" not in info["search"]
    assert 0 < info["recall_at_10"] <= 1


@pytest.mark.parametrize(
    "n, dim, budget, kind, params",
    [
        (10_000, 256, 4 * GiB, "flat", {}),
        (300_000, 256, 4 * GiB, "hnsw", {"hnsw_m": 32, "ef_construction": 80}),
        (300_000, 256, int(300_000 * (1024 + 150)), "hnsw", {"hnsw_m": 16, "ef_construction": 80}),
        (1_000_000, 256, 4 * GiB, "ivf-flat", {"nlist": 4096}),
        (100_000_000, 4096, 8 * GiB, "ivf-pq", {"nlist": 32768, "pq_bytes": 64, "pq_m": 64, "pq_bits": 8, "refine": 0}),
        (2_000, 64, 200_000, "flat", {"dim": 64}),  # binary codes (quantize: test_compact)
    ],
)
def test_auto_rules(n, dim, budget, kind, params):
    plan = plan_auto(n, dim, budget)
    assert (plan.kind, plan.params) == (kind, params)
    assert plan.bytes_estimate <= budget


def test_pq_takes_the_largest_code_that_fits():
    n, dim, budget = 100_000_000, 4096, 8 * GiB
    plan = plan_index("ivf-pq", n, dim, budget)
    per_vector = (budget - 32768 * dim * 4 - dim * 256 * 4) / n - 8
    larger = [m for m in range(plan.params["pq_bytes"] + 1, 129) if dim % m == 0]
    assert plan.params["pq_bytes"] <= per_vector < larger[0]
    assert plan.params["refine"] == 0 and "no exact re-rank" in plan.reason  # 1.6 TB of full vectors


def test_pq_refine_counts_the_full_vectors():
    n, dim = 1_000_000, 256
    refined = plan_index("ivf-pq", n, dim, 4 * GiB)
    assert refined.params["refine"] == 1 and refined.factory.endswith(",RFlat")
    assert refined.bytes_estimate == n * (refined.params["pq_bytes"] + 8 + dim * 4) + (4096 + 256) * dim * 4
    codes_only = plan_index("ivf-pq", n, dim, n * dim * 4)  # the full vectors alone fill this budget
    assert codes_only.params["refine"] == 0 and "no exact re-rank" in codes_only.reason
    assert codes_only.bytes_estimate <= n * dim * 4


def test_bad_budgets_and_types_are_config_errors():
    with pytest.raises(ConfigError, match="--memory-budget too small"):
        plan_auto(100_000_000, 4096, 100 * 2**20)
    with pytest.raises(ConfigError, match="--index 'ivf'"):
        plan_index("ivf", 10, 4, GiB)
    with pytest.raises(ConfigError, match="expected a size"):
        parse_bytes("12 parsecs")
    assert parse_bytes("1.5G") == int(1.5 * GiB) and parse_bytes("512MiB") == 512 * 2**20
