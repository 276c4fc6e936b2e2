"""P2 eval encode and P3 scoring (targets in spec/performance.md).

P2: forward passes and wall time to embed one MMEB-format dataset with heavy candidate overlap
(T -> I retrieval: every query ranks its own image plus images drawn from a shared pool).
  - baseline "every occurrence": encode the query and every candidate of every row;
  - "original eval": dedupe queries and targets separately (VLM2Vec / mmE5 EvalDataset);
  - ours: every unique item of the dataset once (`encode_unique`), and a re-run from the cache.
  All go through the same `Embedder.encode` (same batching), so the ratio is the deduplication.
  Forward counts are also computed for the full 1,000 x 1,000 size without encoding it.
P3: scoring 1,000 queries x 1,000 candidates at dim 4096 for P@1 and R@10.
  - baseline: the original per-row numpy loop (dict lookups, np.stack, cosine with norms,
    argmax, argsort for P@1 and R@10 as in mmE5's eval_utils);
  - ours: `rank_positives` + `summarize`, vectorised. The numbers must be identical.

    .venv/bin/python benchmarks/eval.py [--p2-queries 40 --p2-candidates 50 --p2-pool 100] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mme5 import Embedder, Item
from mme5.evaluation.cache import EmbeddingCache
from mme5.evaluation.data import RowsBuilder
from mme5.evaluation.encoding import encode_unique
from mme5.evaluation.metrics import rank_positives, summarize
from mme5.model.tiny import build_tiny
from mme5.prompts import XTD_IMAGE_TARGET, XTD_QUERY_INSTRUCTION

CAPTION = XTD_QUERY_INSTRUCTION
TARGET = XTD_IMAGE_TARGET


def timed(fns: dict, repeats: int) -> tuple[dict[str, float], dict]:
    """Median wall time per function and its last result. The functions alternate within each
    repeat, so load from other jobs on a shared machine hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    results = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}, results


def retrieval_rows(n_queries: int, n_candidates: int, pool: list[str], seed: int = 0) -> list[tuple[Item, list[Item]]]:
    """Row i: caption i -> [its image, n_candidates - 1 other images from the shared pool]."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_queries):
        others = [j for j in rng.permutation(len(pool)) if j != i % len(pool)][: n_candidates - 1]
        cands = [Item(text=TARGET, image=pool[j]) for j in [i % len(pool), *others]]
        rows.append((Item(text=f"picture {i} of a {['cat', 'dog', 'tree', 'car'][i % 4]} near a window",
                          instruction=CAPTION), cands))
    return rows


def p2(args, embedder: Embedder, image_dir: Path) -> dict:
    from PIL import Image

    rng = np.random.default_rng(1)
    pool = []
    for j in range(max(args.p2_pool, 1000)):
        path = image_dir / f"{j}.png"
        Image.fromarray(rng.integers(0, 255, (int(rng.integers(28, 80)), int(rng.integers(28, 80)), 3), dtype=np.uint8)).save(path)
        pool.append(str(path))
    counts = {}
    for name, (nq, nc, npool) in {"full": (1000, 1000, 1000), "timed": (args.p2_queries, args.p2_candidates, args.p2_pool)}.items():
        builder = RowsBuilder(name)
        rows = retrieval_rows(nq, nc, pool[:npool])
        for i, (q, c) in enumerate(rows):
            builder.add(i, q, c)
        data = builder.build()
        queries = {(q.text, q.instruction) for q, _ in rows}
        targets = {(t.text, t.image) for _, c in rows for t in c}
        counts[name] = {"rows": nq, "candidates_per_row": nc, "pool": npool, "occurrences": data.occurrences,
                        "original_eval": len(queries) + len(targets), "ours": len(data.items)}
        if name == "timed":
            timed_rows, unique = rows, data.items

    occurrences = [q for q, c in timed_rows for q in [q, *c]]
    per_side = list({(q.text, q.instruction): q for q, _ in timed_rows}.values()) + \
        list({(t.text, t.image): t for _, c in timed_rows for t in c}.values())
    embedder.encode(unique[:32], show_progress=False)  # warm-up: first forwards allocate and initialise
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = EmbeddingCache(cache_dir, embedder.fingerprint)
        encode_unique(embedder, unique, cache=cache)
        seconds, out = timed({
            "every_occurrence": lambda: embedder.encode(occurrences, batch_size=16, show_progress=False),
            "original_eval": lambda: embedder.encode(per_side, batch_size=16, show_progress=False),
            "ours": lambda: encode_unique(embedder, unique, batch_size=16),
            "ours_cached_rerun": lambda: encode_unique(embedder, unique, cache=cache),
        }, args.repeats)
    vectors, _ = out["ours"]
    cached, hits = out["ours_cached_rerun"]
    assert hits == len(unique) and np.array_equal(cached, vectors)
    return {"counts": counts, "seconds": seconds,
            "speedup_vs_every_occurrence": seconds["every_occurrence"] / seconds["ours"],
            "speedup_vs_original_eval": seconds["original_eval"] / seconds["ours"]}


def original_scoring(vectors: dict, rows: list[tuple[int, list[int]]]) -> tuple[float, float]:
    """mmE5 / VLM2Vec eval loop: per row stack the candidates, cosine, argmax, argsort top-k."""
    hits, recalls = [], []
    for q, cands in rows:
        qry = vectors[q]
        tgt = np.stack([vectors[c] for c in cands], axis=0)
        scores = np.dot(tgt, qry) / (np.linalg.norm(tgt, axis=1) * np.linalg.norm(qry))
        hits.append(int(np.argmax(scores) == 0))
        top1 = np.argsort(scores)[-1:][::-1]
        top10 = np.argsort(scores)[-10:][::-1]
        assert (0 in top1) == hits[-1]
        recalls.append(int(0 in top10))
    return 100 * float(np.mean(hits)), 100 * float(np.mean(recalls))


def p3(args) -> list[dict]:
    rng = np.random.default_rng(2)
    n, k, dim = 1000, 1000, 4096
    out = []
    for pool in args.p3_pools:
        vectors = rng.standard_normal((n + pool, dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        cand = np.stack([n + rng.permutation(pool)[:k] for _ in range(n)])
        as_dict = {i: vectors[i] for i in range(len(vectors))}
        rows = [(i, cand[i].tolist()) for i in range(n)]

        def ours():
            ranks = rank_positives(vectors, np.arange(n), cand, np.zeros(n, dtype=np.int64))
            m = summarize(ranks.first, ks=(10,))
            return m["precision@1"], m["recall@10"]

        seconds, last = timed({"baseline": lambda: original_scoring(as_dict, rows), "ours": ours}, args.repeats)
        t_base, t_ours = seconds["baseline"], seconds["ours"]
        (p1_base, r10_base), (p1, r10) = last["baseline"], last["ours"]
        assert (p1, r10) == (p1_base, r10_base), ((p1, r10), (p1_base, r10_base))
        out.append({"queries": n, "candidates_per_row": k, "dim": dim, "unique_candidates": pool,
                    "baseline_s": t_base, "ours_s": t_ours, "speedup": t_base / t_ours,
                    "precision@1": p1, "recall@10": r10, "identical": True})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p2-queries", type=int, default=40)
    ap.add_argument("--p2-candidates", type=int, default=50)
    ap.add_argument("--p2-pool", type=int, default=100)
    ap.add_argument("--p3-pools", type=int, nargs="+", default=[1000, 8000, 40000], help="unique candidates behind the lists")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-p2", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/eval.json")
    args = ap.parse_args()
    import torch

    result = {"benchmark": "P2 eval encode + P3 scoring", "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "repeats": args.repeats,
              "numpy": np.__version__, "torch": torch.__version__}
    if not args.skip_p2:
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = build_tiny("mllama", Path(tmp) / "model")
            embedder = Embedder.from_pretrained(model_dir, device="cpu")
            (Path(tmp) / "images").mkdir()
            result["p2_model"] = "tiny Mllama, default TinySizes (test size), CPU float32"
            result["p2"] = p2(args, embedder, Path(tmp) / "images")
        c, s = result["p2"]["counts"], result["p2"]["seconds"]
        print(f"P2 eval encode ({c['timed']['rows']} queries x {c['timed']['candidates_per_row']} candidates from a pool "
              f"of {c['timed']['pool']} images; median of {args.repeats})")
        print("| method | forward passes | wall s | passes at 1,000 x 1,000 |\n|---|---|---|---|")
        for key, label in (("every_occurrence", "every occurrence"), ("original_eval", "original eval (per-side dedupe)"),
                           ("ours", "ours (global dedupe)")):
            count_key = {"every_occurrence": "occurrences"}.get(key, key)
            print(f"| {label} | {c['timed'][count_key]} | {s[key]:.2f} | {c['full'][count_key]:,} |")
        print(f"| ours, re-run from cache | 0 | {s['ours_cached_rerun']:.3f} | 0 |")
        print(f"speedup vs every occurrence: {result['p2']['speedup_vs_every_occurrence']:.1f}x, "
              f"vs original eval: {result['p2']['speedup_vs_original_eval']:.2f}x\n")
    result["p3"] = p3(args)
    print("P3 scoring (1,000 queries x 1,000 candidates, dim 4096; median of %d)" % args.repeats)
    print("| unique candidates | per-row numpy loop s | ours s | speedup | P@1 | R@10 | identical |\n|---|---|---|---|---|---|---|")
    for r in result["p3"]:
        print(f"| {r['unique_candidates']:,} | {r['baseline_s']:.2f} | {r['ours_s']:.3f} | {r['speedup']:.1f}x | "
              f"{r['precision@1']:.1f} | {r['recall@10']:.1f} | {r['identical']} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
