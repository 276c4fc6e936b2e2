"""P11 rerank: pairs/s of `Reranker.score_pairs` (texts rendered once and tokenized in one call,
batches planned by processed length, left-padded) vs one pair per forward (the publishers'
`Qwen3VLReranker.process` loop) on a mixed stream, tiny and mid-size.

The stream mixes text/text, text/image and image+text/text pairs with 8-240-word documents, as
a first stage's top K does. Both paths run the same Reranker code (`prepare` + `logits`), so the
ratio measures batching alone; the largest score difference between them, the batched path's
padded / real positions and its number of forwards are reported too, and the batched path once more
with the next batch prepared on a thread while the current one runs (on by default on accelerators;
here it occupies the machine's second core).

    .venv/bin/python benchmarks/rerank.py [--pairs 48] [--repeats 3] [--threads 1] [--out benchmarks/results/rerank.json]
    .venv/bin/python benchmarks/rerank.py --two-stage [--queries 10] [--pool 120]   # eval cost at top-k 100

`--two-stage` times `mme5 eval tasks` on a generated BEIR-layout page collection with the tiny
Qwen2-VL embedder, alone and with `--rerank` (tiny reranker, top 100), from the task JSON's seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from encode import MID, WORDS  # the spec's mid-size config and the benchmark words (one home: encode.py)
from PIL import Image

from mme5 import Item, Reranker
from mme5.model.backbones import TinySizes
from mme5.model.planning import PaddingCounter
from mme5.model.tiny import build_tiny


def stream(n: int, seed: int = 0) -> list[tuple[Item, Item]]:
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        doc_text = " ".join(rng.choice(WORDS, int(rng.integers(8, 240))))
        img = Image.fromarray(
            rng.integers(0, 255, (int(rng.integers(40, 160)), int(rng.integers(40, 160)), 3), dtype=np.uint8)
        )
        kind = i % 3
        query = Item(text="a dog under a tree") if kind != 2 else Item(text="what is this?", image=img)
        doc = Item(text=doc_text) if kind != 1 else Item(image=img, text=doc_text[:40])
        pairs.append((query, doc))
    return pairs


def one_per_forward(reranker: Reranker, pairs) -> np.ndarray:
    with torch.no_grad():
        return np.array([torch.sigmoid(reranker.logits(reranker.prepare([p], [None]))).item() for p in pairs])


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def two_stage_cost(queries: int, pool: int, top_k: int = 100) -> dict:
    """Seconds of the first stage (load + encode + score) and of the rerank stage of one task."""
    from mme5.cli.main import main as mme5

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "data" / "pages_task"
        (folder / "pages").mkdir(parents=True)
        for i in range(pool):
            Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(folder / "pages" / f"p{i}.png")
        lines = {
            "corpus.jsonl": [{"corpus-id": i, "image": f"pages/p{i}.png"} for i in range(pool)],
            "queries.jsonl": [
                {"query-id": f"q{i}", "query": f"page {i} about {WORDS[i % len(WORDS)]}"} for i in range(queries)
            ],
            "qrels.jsonl": [{"query-id": f"q{i}", "corpus-id": i, "score": 1} for i in range(queries)],
        }
        for name, rows in lines.items():
            (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
        embedder = build_tiny("qwen2_vl", root / "emb")
        reranker = build_tiny("qwen3_vl", root / "rr", reranker=True)
        base = ["eval", "tasks", "--model", str(embedder), "--data-dir", str(root / "data"), "--no-cache", "--no-chart"]
        assert (
            mme5([*base, "--output", str(root / "run"), "--rerank", str(reranker), "--rerank-top-k", str(top_k)]) == 0
        )
        result = json.loads(next((root / "run" / "tasks").glob("*.json")).read_text())
    first = sum(result["seconds"].values())
    return {
        "queries": queries,
        "pool": pool,
        "top_k": top_k,
        "first_stage_s": first,
        "rerank_s": result["rerank"]["seconds"],
        "pairs": result["rerank"]["pairs"],
        "two_stage_over_first": (first + result["rerank"]["seconds"]) / first,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--two-stage", action="store_true")
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--pool", type=int, default=120)
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the least noisy)")
    ap.add_argument("--out", default="benchmarks/results/rerank.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.two_stage:
        print(json.dumps(two_stage_cost(args.queries, args.pool)))
        return
    pairs = stream(args.pairs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, sizes in (("tiny", TinySizes()), ("mid", MID)):
            folder = build_tiny("qwen3_vl", Path(tmp) / name, sizes=sizes, reranker=True)
            reranker = Reranker.from_pretrained(folder, device="cpu")
            reranker.score_pairs(pairs[:4])  # warm-up
            single_s, single = timed(lambda r=reranker: one_per_forward(r, pairs), args.repeats)
            reranker.padding = PaddingCounter()  # count the timed batched runs only
            batched_s, batched = timed(
                lambda r=reranker: r.score_pairs(pairs, batch_size=args.batch_size), args.repeats
            )
            padded_over_real, forwards = reranker.padding.ratio, reranker.padding.forwards // args.repeats
            reranker.prefetch = True  # the accelerator default: batch n+1 prepared on a thread (a 2nd core here)
            ahead_s, _ = timed(lambda r=reranker: r.score_pairs(pairs, batch_size=args.batch_size), args.repeats)
            reranker.prefetch = None
            params = sum(p.numel() for p in reranker.model.parameters())
            rows.append(
                {
                    "model": name,
                    "parameters": params,
                    "pairs": len(pairs),
                    "batch_size": args.batch_size,
                    "one_per_forward_pairs_per_s": len(pairs) / single_s,
                    "batched_pairs_per_s": len(pairs) / batched_s,
                    "ratio": single_s / batched_s,
                    "batched_prepare_ahead_pairs_per_s": len(pairs) / ahead_s,
                    "ratio_prepare_ahead": single_s / ahead_s,
                    "max_abs_score_diff": float(np.abs(np.asarray(batched) - np.asarray(single)).max()),
                    "padded_over_real": padded_over_real,
                    "forwards": forwards,
                }
            )
            print(json.dumps(rows[-1]))
    record = {
        "machine": f"{platform.system()} {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)",
        "repeats": args.repeats,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
