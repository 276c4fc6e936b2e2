"""P7 quickstart: wall time of `mme5 quickstart` (target <= 5 min on 2 cores), and the training
step with the image bank vs preparing the images every step.

1. The command as a user runs it, in a fresh process each time (imports, model build, two
   evaluations, 1,000 training steps, checkpoint, chart): wall and CPU seconds per run.
2. One training step (batch 128) two ways, alternating, same batches: ours slices the processor
   outputs of every training image computed once (`ImageBank`); the baseline calls the processor
   on the batch's images every step (what a plain `Embedder.prepare` loop does).

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
    """Seconds per training step with the image bank and with per-step image processing."""
    import torch

    from mme5.data.emoji import load_pack
    from mme5.quickstart.config import QuickstartConfig
    from mme5.quickstart.evaluate import Instructions
    from mme5.quickstart.splits import make_splits
    from mme5.quickstart.train import ImageBank, batch_pairs, build_embedder
    from mme5.training.losses import info_nce
    from mme5.types import Item

    torch.set_num_threads(1)
    cfg = QuickstartConfig()
    data = load_pack()
    splits = make_splits(data, cfg.data)
    ins = Instructions(cfg.data.query_instruction, cfg.data.image_instruction)
    with tempfile.TemporaryDirectory() as tmp:
        emb = build_embedder(cfg.model, splits.train_texts + [ins.query, ins.image] * 50, Path(tmp))
    items = {i: Item(image=data.records[i].image, instruction=ins.image) for i in sorted(splits.train)}
    bank = ImageBank(emb, items)
    opt = torch.optim.AdamW(emb.model.parameters(), lr=1e-4)
    emb.model.train()

    def step(s: int, use_bank: bool) -> None:
        pairs = batch_pairs(splits, cfg.train, cfg.data.eval_languages, s)
        texts = emb.prepare([Item(text=p.text, instruction=ins.query) for p in pairs])
        images = bank.prepare([p.image for p in pairs]) if use_bank else emb.prepare([items[p.image] for p in pairs])
        loss = info_nce(emb.forward(texts), emb.forward(images), temperature=0.02, symmetric=True, gather=False)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(0, True)  # warm-up
    times: dict[str, list[float]] = {"bank": [], "per_step_processor": []}
    for r in range(repeats):
        for name, use_bank in (("bank", True), ("per_step_processor", False)):
            t0 = time.perf_counter()
            for s in range(steps):
                step(r * steps + s, use_bank)
            times[name].append((time.perf_counter() - t0) / steps)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps-per-repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="passed to `mme5 quickstart --threads`")
    ap.add_argument("--out", default="benchmarks/results/quickstart.json")
    args = ap.parse_args()
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg_start": os.getloadavg(),
               "python": platform.python_version()}
    print(f"machine: {machine}")
    steps = time_steps(args.repeats, args.steps_per_repeat)
    med = {k: statistics.median(v) for k, v in steps.items()}
    print(f"training step (batch 128, 1 thread), median of {args.repeats} x {args.steps_per_repeat} steps: "
          f"bank {med['bank']:.3f} s, per-step processor {med['per_step_processor']:.3f} s, "
          f"ratio {med['per_step_processor'] / med['bank']:.2f}x")
    runs = time_command(args.runs, ["--threads", str(args.threads)])
    walls = [r["wall_s"] for r in runs]
    print(f"mme5 quickstart --threads {args.threads}: median wall {statistics.median(walls):.0f} s "
          f"(min {min(walls):.0f}, max {max(walls):.0f}) over {len(runs)} runs; target <= 300 s")
    machine["load_avg_end"] = os.getloadavg()
    result = {"machine": machine, "config": "default QuickstartConfig (1,000 steps, batch 128)", "threads": args.threads,
              "step_seconds": steps, "step_median": med, "runs": runs, "wall_median_s": statistics.median(walls)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
