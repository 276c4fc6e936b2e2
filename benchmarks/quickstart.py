"""P7 quickstart: wall time of `mme5 quickstart` (target <= 5 min on 2 cores), and one training
step of the real training stage with and without its image cache (`data.image_cache_mb`).

1. The command as a user runs it, in a fresh process each time (imports, model build, two
   evaluations through the Runner, 1,000 steps of `mme5 train`'s trainer, checkpoint, chart):
   wall and CPU seconds per run.
2. One training step (batch 128) of the recipe, two ways, alternating, same batches: the
   collator serves the image side from `PreparedCache` (ours) or runs the processor on the
   batch's images every step (the baseline: `data.image_cache_mb: 0`). Both then run the same
   forward, symmetric InfoNCE, backward and AdamW step.

    .venv/bin/python benchmarks/quickstart.py [--runs 5] [--repeats 5] [--steps-per-repeat 10]
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


def time_command(runs: int, extra: list[str]) -> list[dict]:
    """Run `mme5 quickstart` `runs` times in fresh processes -> wall/CPU seconds and the check result."""
    out = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "mme5.cli.main", "quickstart", "--out", f"{tmp}/run", *extra],
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode not in (0, 1):
                raise RuntimeError(f"quickstart failed:\n{proc.stderr[-3000:]}")
            metrics = json.loads(Path(f"{tmp}/run/metrics.json").read_text())
        out.append({"wall_s": round(wall, 1), "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
                    "train_s": metrics["training"]["seconds"], "passed": metrics["check"]["passed"],
                    "mean_R@10": {s: round(100 * statistics.mean(v["R@10"] for v in langs.values()), 1)
                                  for s, langs in metrics["trained"].items()}})
        print(f"run {i + 1}/{runs}: {out[-1]}", flush=True)
    return out


def time_steps(repeats: int, steps: int) -> dict[str, list[float]]:
    """Seconds per training step with the image cache (warm) and with per-step image processing."""
    import torch

    from mme5.config import to_dict
    from mme5.data.collate import ContrastiveCollator
    from mme5.data.emoji import load_pack
    from mme5.data.mixture import load_mixture
    from mme5.data.sampler import plan_batches
    from mme5.data.schema import positive_key
    from mme5.quickstart.config import QuickstartConfig
    from mme5.quickstart.pipeline import _build_tiny, placed
    from mme5.quickstart.rows import write_training_rows
    from mme5.quickstart.splits import make_splits
    from mme5.training.losses import info_nce
    from mme5.training.model import build_model

    torch.set_num_threads(1)
    cfg = QuickstartConfig()
    data = load_pack()
    splits = make_splits(data, cfg.split)
    tmp = Path(tempfile.mkdtemp())
    rows = write_training_rows(data, splits, cfg.split, tmp / "data")
    train_cfg = placed(cfg.train, tmp, str(_build_tiny(cfg, splits.train_texts, tmp / "initial_model")), rows)
    examples = load_mixture(train_cfg.data, seed=train_cfg.seed)
    plan = plan_batches([e.source for e in examples.examples], [positive_key(e) for e in examples.examples],
                        per_device_batch_size=train_cfg.per_device_batch_size, seed=train_cfg.seed, epochs=1)
    model = build_model(train_cfg.model, seed=train_cfg.seed)
    collators = {
        name: ContrastiveCollator(model.embedder, examples.examples, examples.wheres, negative_ratio=0,
                                  image_cache_bytes=cache_mb << 20)
        for name, cache_mb in (("cache", train_cfg.data.image_cache_mb), ("per_step_processor", 0))}
    for b in plan.micro_batches:  # the cache as it is from the second epoch on
        collators["cache"]([b])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step(s: int, name: str) -> None:
        chunk = collators[name]([plan.micro_batches[s % len(plan.micro_batches)]])["chunks"][0]
        query, positive = model(chunk.query, chunk.positive)
        loss = info_nce(query, positive, temperature=train_cfg.temperature, symmetric=True, gather=False)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(0, "cache")  # warm-up
    # CPU seconds of this process (one torch thread): on a shared machine wall time mostly
    # measures the neighbours; the wall figures are kept beside them
    times: dict[str, list[float]] = {"cache": [], "per_step_processor": [], "cache_wall": [], "per_step_processor_wall": []}
    for r in range(repeats):
        for name in ("cache", "per_step_processor"):
            t0, c0 = time.perf_counter(), time.process_time()
            for s in range(steps):
                step(r * steps + s, name)
            times[name].append((time.process_time() - c0) / steps)
            times[name + "_wall"].append((time.perf_counter() - t0) / steps)
    print(f"recipe: {to_dict(train_cfg)['data']}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps-per-repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="passed to `mme5 quickstart --threads`")
    ap.add_argument("--out", default="benchmarks/results/quickstart.json")
    ap.add_argument("--extra", nargs="*", default=[], help="more `mme5 quickstart` arguments (e.g. --steps 100)")
    args = ap.parse_args()
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg_start": os.getloadavg(),
               "python": platform.python_version()}
    print(f"machine: {machine}")
    steps = time_steps(args.repeats, args.steps_per_repeat) if args.repeats else {}
    med = {k: statistics.median(v) for k, v in steps.items()}
    if steps:
        print(f"training step (batch 128, 1 thread), CPU s, median of {args.repeats} x {args.steps_per_repeat} steps: "
              f"cache {med['cache']:.3f} s, per-step processor {med['per_step_processor']:.3f} s, "
              f"ratio {med['per_step_processor'] / med['cache']:.2f}x")
    runs = time_command(args.runs, ["--threads", str(args.threads), *args.extra]) if args.runs else []
    walls = [r["wall_s"] for r in runs] or [float("nan")]
    if runs:
        print(f"mme5 quickstart --threads {args.threads}: median wall {statistics.median(walls):.0f} s "
              f"(min {min(walls):.0f}, max {max(walls):.0f}) over {len(runs)} runs; target <= 300 s")
    machine["load_avg_end"] = os.getloadavg()
    result = {"machine": machine, "config": "default QuickstartConfig (recipe configs/train/quickstart-emoji.yaml: 1,000 steps, batch 128)", "threads": args.threads,
              "step_seconds": steps, "step_median": med, "runs": runs, "wall_median_s": statistics.median(walls)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
