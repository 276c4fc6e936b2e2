"""P5 synthesis: samples/s of the whole pipeline (plan -> prompt with base64 images -> HTTP ->
validation incl. language check -> atomic shards) against a loopback OpenAI-compatible server
with a fixed per-request latency, at concurrency 1 ... 64.

Baselines: sequential requests (concurrency 1), i.e. one request after the other as a plain
client loop does; and, at each concurrency, bare httpx POSTs of the same request body with no
pipeline at all (one connection pool, as a plain client; and pools of 8 connections, as our
backend), which is the transport's own ceiling on this machine. Target: throughput >= 0.8 x
concurrency / latency, with exactly the requested samples written, no duplicate id and none lost.

The server is `tests/fixtures/stub_server.py` (a stand-in for a remote API) in its own process,
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
from mme5.synthesis.backends import make_backend
from mme5.synthesis.config import SynthesisConfig
from mme5.synthesis.runner import Synthesizer

STUB_SERVER = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "stub_server.py"  # not in the package


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(STUB_SERVER), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


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


def raw_requests(base_url: str, body: dict, n: int, concurrency: int, pools: int) -> float:
    """Seconds for n bare chat-completion POSTs of a real request body through httpx, no pipeline:
    the transport's own ceiling on this machine. `pools` clients share the connections."""
    import httpx

    async def go() -> float:
        size = -(-concurrency // pools) + 2
        clients = [httpx.AsyncClient(limits=httpx.Limits(max_connections=size, max_keepalive_connections=size))
                   for _ in range(pools)]
        gate = asyncio.Semaphore(concurrency)

        async def one(k: int) -> None:
            async with gate:
                response = await clients[k % pools].post(f"{base_url}/chat/completions", json=body)
                response.raise_for_status()
                response.json()

        start = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(n)))
        seconds = time.perf_counter() - start
        for client in clients:
            await client.aclose()
        return seconds

    return asyncio.run(go())


def sample_body(root: Path, base_url: str) -> dict:
    """The request body the pipeline sends for its first sample (images included)."""
    synth = Synthesizer(config(Path(tempfile.mkdtemp(dir=root)), base_url, 1, 1), progress=False)
    synth.prepare()
    from mme5.synthesis.feed import resolve_images
    from mme5.synthesis.prompts import build_prompt

    plan = next(synth.planner.sample(i) for i in range(100) if synth.planner.sample(i).modality == "IT2IT")
    images = resolve_images(plan, synth.index.ranked([plan.anchor], 20)[0])
    paths = {role: synth.pool.images[i].path for role, i in images.items()}
    prompt = build_prompt(plan.task, plan.modality, plan.language, paths)
    return make_backend(synth.config.backend).payload(prompt, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--levels", default="1,2,4,8,16,32,64")
    parser.add_argument("--rounds", type=int, default=8, help="samples per run = rounds x concurrency (min 8)")
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
            body = sample_body(Path(tmp), base_url)
            for c in levels:
                n = max(8, args.rounds * c)
                cpu_ms: list[float] = []
                server_before = process_cpu_s(proc.pid)
                times = [one_run(Path(tmp), base_url, n, c, cpu_ms) for _ in range(args.repeats)]
                server_after = process_cpu_s(proc.pid)
                server_ms = (1000 * (server_after - server_before) / (n * args.repeats)
                             if server_before is not None and server_after is not None else None)
                raw1 = statistics.median(raw_requests(base_url, body, n, c, 1) for _ in range(args.repeats))
                raw8 = statistics.median(raw_requests(base_url, body, n, c, -(-c // 8)) for _ in range(args.repeats))
                rate = n / statistics.median(times)
                ideal = c / args.latency
                rows.append({"concurrency": c, "samples": n, "median_s": statistics.median(times),
                             "samples_per_s": rate, "ideal_per_s": ideal, "fraction_of_ideal": rate / ideal,
                             "client_cpu_ms_per_sample": statistics.median(cpu_ms),
                             "server_cpu_ms_per_request": server_ms, "runs_s": times,
                             "raw_httpx_one_pool_per_s": n / raw1, "raw_httpx_pools_of_8_per_s": n / raw8})
    finally:
        proc.terminate()
        proc.wait()
    sequential = rows[0]["samples_per_s"] if levels[0] == 1 else None
    print("| concurrency | samples | samples/s | ideal c/latency | fraction of ideal | vs sequential "
          "| bare httpx, 1 pool: req/s | bare httpx, pools of 8: req/s | client CPU ms/sample "
          "| stub server CPU ms/request |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        r["vs_sequential"] = r["samples_per_s"] / sequential if sequential else None
        vs = f"{r['vs_sequential']:.1f}x" if sequential else "-"
        print(f"| {r['concurrency']} | {r['samples']} | {r['samples_per_s']:.2f} | {r['ideal_per_s']:.1f} | "
              f"{r['fraction_of_ideal']:.2f} | {vs} | {r['raw_httpx_one_pool_per_s']:.2f} | "
              f"{r['raw_httpx_pools_of_8_per_s']:.2f} | {r['client_cpu_ms_per_sample']:.1f} | "
              f"{r['server_cpu_ms_per_request'] or float('nan'):.1f} |")
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
