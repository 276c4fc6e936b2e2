"""P4 GradCache: peak memory and step time against the global batch, GradCache vs plain.

Baseline ("plain", how the original mmE5 code trains on one device): one forward of the whole
batch with the graph kept, InfoNCE, one backward. Ours: `contrastive_step` with GradCache chunks
(no-grad forward per chunk, loss on detached embeddings, re-forward + backward per chunk).
Both on the same inputs (toy set: text->image and image->text, 1 hard negative each), a small
Mllama with a DoRA adapter and gradient checkpointing, as the recipes train.

- Memory: each (mode, batch) in a fresh process; the rise of the process's peak RSS during one step.
- Time: one process per batch ALTERNATES plain and GradCache steps (the machine is shared and
  noisy: side by side keeps the ratio honest); median of `--repeats` steps each, after a warm-up.
  Collation (processor work, done by data-loader workers in training) is not timed.

    .venv/bin/python benchmarks/gradcache.py [--batches 8 32 128 512 1024] [--chunks 16] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = dict(text_hidden=256, text_layers=4, heads=8, kv_heads=4, intermediate=688,
             vision_hidden=64, vision_layers=2, image_size=56, vocab_size=2000, max_tiles=4)


def _setup(model_dir: str, batch: int, chunks: list[int | None]):
    import torch

    from mme5.data.collate import ContrastiveCollator
    from mme5.data.sources import load_examples
    from mme5.training.config import LoraSettings, ModelConfig
    from mme5.training.gradcache import contrastive_step
    from mme5.training.losses import info_nce
    from mme5.training.model import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(name_or_path=model_dir, max_length=64, lora=LoraSettings(dropout=0.0)))
    pool = load_examples("toy:shapes", negative_ratio=1)
    examples = [pool[i % len(pool)] for i in range(batch)]
    prepared = {}
    for chunk in chunks:
        collate = ContrastiveCollator(model.embedder, examples, [str(i) for i in range(batch)],
                                      negative_ratio=1, chunk_size=chunk)
        prepared[chunk] = collate([list(range(batch))])["chunks"]

    def step(chunk: int | None) -> float:
        start = time.perf_counter()
        contrastive_step(model, prepared[chunk], loss_fn=info_nce, backward=lambda loss, last: loss.backward())
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    return step


def memory_worker(model_dir: str, batch: int, chunk: int | None) -> dict:
    step = _setup(model_dir, batch, [chunk])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step(chunk)
    return {"peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}


def time_worker(model_dir: str, batch: int, chunks: list[int | None], repeats: int) -> dict:
    step = _setup(model_dir, batch, chunks)
    for chunk in chunks:
        step(chunk)  # warm-up
    times: dict[str, list[float]] = {str(c): [] for c in chunks}
    for _ in range(repeats):
        for chunk in chunks:
            times[str(chunk)].append(step(chunk))
    return {c: {"median_s": statistics.median(t), "times_s": t} for c, t in times.items()}


def run(args, env, *worker_args) -> dict:
    cmd = [sys.executable, __file__, "--worker", *map(str, worker_args)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128, 512, 1024])
    ap.add_argument("--plain-max", type=int, default=512, help="largest batch timed for the plain baseline")
    ap.add_argument("--chunks", type=int, nargs="+", default=[16], help="GradCache chunk sizes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 shared cores: 1 is steadiest)")
    ap.add_argument("--out", default="benchmarks/results/gradcache.json")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, model_dir, batch, *rest = args.worker
        chunks = [None if c == "None" else int(c) for c in rest[:-1]] if kind == "time" else None
        result = (memory_worker(model_dir, int(batch), None if rest[0] == "None" else int(rest[0]))
                  if kind == "memory" else time_worker(model_dir, int(batch), chunks, int(rest[-1])))
        print(json.dumps(result))
        return

    from mme5.model.backbones import TinySizes
    from mme5.model.tiny import build_tiny
    from mme5.provenance import versions, write_json

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        env.setdefault("MME5_CACHE", tmp)
        model_dir = build_tiny("mllama", Path(tmp) / "small", sizes=TinySizes(**SMALL))
        for batch in args.batches:
            modes = ([None] if batch <= args.plain_max else []) + [c for c in args.chunks if c < batch]
            memory = {str(m): run(args, env, "memory", model_dir, batch, m)["peak_mb"] for m in modes}
            times = run(args, env, "time", model_dir, batch, *modes, args.repeats)
            for m in modes:
                row = {"batch": batch, "mode": "plain" if m is None else f"gradcache-{m}",
                       "peak_mb": memory[str(m)], **times[str(m)]}
                if m is not None and None in modes:
                    row["time_ratio"] = row["median_s"] / times["None"]["median_s"]
                table.append(row)
                print(f"batch {batch:5d} {row['mode']:13s} peak +{row['peak_mb']:8.1f} MB  "
                      f"step {row['median_s']:8.3f} s  ratio {row.get('time_ratio', float('nan')):.2f}", flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{args.threads}; model: tiny Mllama {SMALL}, DoRA r8, gradient checkpointing; median of {args.repeats}")
    print("| global batch | mode | peak MB (step) | s/step | time vs plain |")
    print("| --- | --- | --- | --- | --- |")
    for r in table:
        ratio = f"{r['time_ratio']:.2f}" if "time_ratio" in r else "—"
        print(f"| {r['batch']} | {r['mode']} | {r['peak_mb']:.0f} | {r['median_s']:.3f} | {ratio} |")
    write_json(args.out, {"benchmark": "P4 gradcache", "baseline": "plain full-batch forward/backward",
                          "chunks": args.chunks, "threads": args.threads, "model": SMALL,
                          "repeats": args.repeats, "versions": versions(),
                          "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
                          "rows": table})


if __name__ == "__main__":
    main()
