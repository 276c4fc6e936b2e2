"""P10 corpus ranking: 1,000 queries against a 100,000-item corpus (dim 1536), as in the MMEB-V2
visdoc and global video tasks.

  - baseline: the per-query loop of the published evaluation (one matrix-vector product and a
    full `np.argsort(-scores)` per query), top 10 + the label's rank read off the sorted order;
  - ours: `rank_global` (query blocks: one matrix product, `np.partition` for the 10th score,
    exact ranking of the few items at or above it), both tie rules, memory bounded by
    `--block-mb`.
The baseline is linear in the number of queries, so it runs on the first `--baseline-queries`
and is compared per query; top-10 lists and label ranks must be identical on those queries.
Peak memory is Python-traced (numpy reports its buffers to tracemalloc) above the inputs. The
two methods alternate within each repeat (a shared machine's load hits both alike).

    .venv/bin/python benchmarks/corpus_ranking.py [--queries 1000 --corpus 100000 --dim 1536] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from mme5.evaluation.mmeb_v2.ranking import rank_global


def baseline(queries: np.ndarray, corpus: np.ndarray, labels: list[np.ndarray], k: int = 10):
    """Per query: scores, a full stable argsort, the top k and the label's rank (0 beyond k)."""
    top, ranks = [], []
    for q, lab in zip(queries, labels):
        order = np.argsort(-(corpus @ q), kind="stable")
        top.append(order[:k])
        pos = int(np.flatnonzero(order == lab[0])[0]) + 1
        ranks.append(pos if pos <= k else 0)
    return np.stack(top), np.asarray(ranks)


def run_once(fn):
    """(seconds, peak traced bytes, result) of one call."""
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak, out


def interleaved(fns: dict, repeats: int) -> dict:
    """name -> (median s, max peak, last result, all times); the methods alternate within each
    repeat, so a shared machine's load swings hit both sides alike."""
    runs: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            runs[name].append(run_once(fn))
    return {name: (statistics.median(r[0] for r in rs), max(r[1] for r in rs), rs[-1][2], [r[0] for r in rs])
            for name, rs in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--corpus", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=1536)
    ap.add_argument("--baseline-queries", type=int, default=50)
    ap.add_argument("--block-mb", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    def unit(n: int) -> np.ndarray:
        x = rng.standard_normal((n, args.dim), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    corpus = unit(args.corpus)
    labels = [rng.integers(0, args.corpus, 1) for _ in range(args.queries)]
    # queries near their label page, so ranks are spread over 1..10 and beyond
    queries = unit(args.queries) + 0.1 * corpus[np.concatenate(labels)]
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    block = args.block_mb << 20
    nb = args.baseline_queries
    res = interleaved({"ours": lambda: rank_global(queries, corpus, labels, k=10, block_bytes=block),
                       "baseline": lambda: baseline(queries[:nb], corpus, labels[:nb])}, args.repeats)
    ours_t, ours_peak, ours, ours_all = res["ours"]
    base_t, base_peak, (b_top, b_rank), base_all = res["baseline"]
    identical = bool((ours.top[:nb] == b_top).all() and (np.concatenate(ours.first[:nb]) == b_rank).all())
    per_q_base, per_q_ours = base_t / nb, ours_t / args.queries
    result = {
        "queries": args.queries, "corpus": args.corpus, "dim": args.dim, "block_mb": args.block_mb,
        "baseline_queries": nb, "repeats": args.repeats,
        "ours_s": round(ours_t, 3), "ours_runs_s": [round(t, 3) for t in ours_all],
        "ours_ms_per_query": round(1000 * per_q_ours, 3), "ours_peak_mb": round(ours_peak / 2**20, 1),
        "baseline_s": round(base_t, 3), "baseline_runs_s": [round(t, 3) for t in base_all],
        "baseline_ms_per_query": round(1000 * per_q_base, 3), "baseline_peak_mb": round(base_peak / 2**20, 1),
        "baseline_extrapolated_s": round(per_q_base * args.queries, 1),
        "speedup_per_query": round(per_q_base / per_q_ours, 1), "identical_rankings": identical,
        "corpus_mb": round(corpus.nbytes / 2**20, 1),
        "hit@1": float(np.mean([r[0] == 1 for r in ours.first])),
        "threads": os.environ.get("OMP_NUM_THREADS", "default"), "cpu": platform.processor() or platform.machine(),
        "numpy": np.__version__,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
