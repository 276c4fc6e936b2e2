"""P5 synthesis: samples/s of the whole pipeline (plan -> prompt with base64 images -> HTTP ->
validation incl. language check -> atomic shards) against a loopback OpenAI-compatible server
with a fixed per-request latency, at concurrency 1 ... 64.

Baseline: sequential requests (concurrency 1), i.e. one request after the other as a plain
client loop does. Target: throughput >= 0.8 x concurrency / latency, with exactly the requested
samples written, no duplicate id and none lost.

The server is `mme5.synthesis.stub_server` (a stand-in for a remote API) in its own process,
so its threads do not compete with the client for the GIL.

    .venv/bin/python benchmarks/synthesis.py [--latency 0.5] [--repeats 5] [--out benchmarks/results/synthesis.json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mme5.config import load_config
from mme5.synthesis.config import SynthesisConfig
from mme5.synthesis.backends import make_backend
from mme5.synthesis.runner import Synthesizer


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "mme5.synthesis.stub_server", "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def config(out: Path, base_url: str, n: int, concurrency: int) -> SynthesisConfig:
    overrides = {
        "num_samples": n, "plan.languages": "english", "pool.generate": 64,
        "neighbours.encoder": "pixels", "neighbours.positive_ranks": [1, 3], "neighbours.negative_ranks": [8, 20],
        "backend.kind": "openai", "backend.openai.model": "stub", "backend.openai.base_urls": [base_url],
        "backend.openai.api_key_env": None, "backend.openai.concurrency": concurrency,
        "output.dir": str(out), "output.shard_size": 1000, "output.commit_every_s": 1.0,
    }
    return load_config(SynthesisConfig, None, [f"{k}={json.dumps(v)}" for k, v in overrides.items()])


def one_run(root: Path, base_url: str, n: int, concurrency: int, cpu_ms: list[float]) -> float:
    """Seconds for `n` samples (setup excluded; client CPU ms per sample appended to `cpu_ms`);
    checks the output has exactly n distinct ids."""
    out = Path(tempfile.mkdtemp(dir=root))
    cfg = config(out, base_url, n, concurrency)
    synth = Synthesizer(cfg, progress=False)
    synth.prepare()

    async def timed() -> tuple[dict, float]:
        synth.backend = make_backend(cfg.backend)  # made here: its connections belong to this loop
        start, cpu = time.perf_counter(), time.process_time()
        stats = await synth.run_async()
        seconds = time.perf_counter() - start
        cpu_ms.append(1000 * (time.process_time() - cpu) / n)
        await synth.backend.aclose()
        return stats, seconds

    stats, seconds = asyncio.run(timed())
    ids = [json.loads(line)["id"] for p in (out / "data").glob("shard-*") for line in p.read_text().splitlines()]
    if stats["accepted"] != n or len(ids) != n or len(set(ids)) != n:
        raise RuntimeError(f"concurrency {concurrency}: {len(ids)} rows, {len(set(ids))} distinct, expected {n}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--levels", default="1,2,4,8,16,32,64")
    parser.add_argument("--rounds", type=int, default=4, help="samples per run = rounds x concurrency (min 8)")
    parser.add_argument("--out", default="benchmarks/results/synthesis.json")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus, python {platform.python_version()}, "
          f"load average at start {os.getloadavg()[0]:.1f} (other processes share these cpus)")
    print(f"server: loopback stub (separate process), fixed latency {args.latency}s; English plan, 64 generated "
          f"images, pixel neighbours; median of {args.repeats} runs; baseline = sequential requests (concurrency 1)")
    proc, base_url = start_server(args.latency)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for c in levels:
                n = max(8, args.rounds * c)
                cpu_ms: list[float] = []
                times = [one_run(Path(tmp), base_url, n, c, cpu_ms) for _ in range(args.repeats)]
                rate = n / statistics.median(times)
                ideal = c / args.latency
                rows.append({"concurrency": c, "samples": n, "median_s": statistics.median(times),
                             "samples_per_s": rate, "ideal_per_s": ideal, "fraction_of_ideal": rate / ideal,
                             "client_cpu_ms_per_sample": statistics.median(cpu_ms), "runs_s": times})
    finally:
        proc.terminate()
        proc.wait()
    sequential = rows[0]["samples_per_s"] if levels[0] == 1 else None
    print("| concurrency | samples | samples/s | ideal c/latency | fraction of ideal | vs sequential | client CPU ms/sample |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        r["vs_sequential"] = r["samples_per_s"] / sequential if sequential else None
        vs = f"{r['vs_sequential']:.1f}x" if sequential else "-"
        print(f"| {r['concurrency']} | {r['samples']} | {r['samples_per_s']:.2f} | {r['ideal_per_s']:.1f} | "
              f"{r['fraction_of_ideal']:.2f} | {vs} | {r['client_cpu_ms_per_sample']:.1f} |")
    ok = all(r["fraction_of_ideal"] >= 0.8 for r in rows)
    print(f"target >= 0.8 x concurrency / latency at every level: {'met' if ok else 'NOT met'}; "
          "every run wrote exactly the requested samples, no duplicates")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "benchmark": "P5 synthesis", "latency_s": args.latency, "repeats": args.repeats,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "baseline": "sequential requests (concurrency 1)", "rows": rows, "target_met": ok}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
