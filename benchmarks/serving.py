"""P6 serving: requests/s and p50/p99 latency of `mme5 serve` at concurrency 1/8/32, dynamic
batching vs one request per forward.

Baseline ("one request per forward"): the same server with --batch-size 1, i.e. what a plain
endpoint that calls the model once per request does. Ours: dynamic batching (--batch-size 32,
--set max_wait_ms=5). Both servers run as separate `mme5 serve` processes on 127.0.0.1 with the same
mid-size tiny Mllama; runs alternate between them (ours, baseline, ours, ...) so machine noise hits
both. Each request carries one item; three mixes: short caption queries, 96 px PNG images, and
2 texts : 1 image. Load is bounded: a fixed number of requests per run and a time cap.

    .venv/bin/python benchmarks/serving.py [--repeats 5] [--requests 96] [--out benchmarks/results/serving.json]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from encode import MID, WORDS
from PIL import Image

from mme5.prompts import REPRESENT_IMAGE

# "default": the embedded tiny model `mme5 serve` serves without --model (~0.2M parameters: HTTP
# handling costs more than its forward); "small": a forward dominated by fixed per-call cost;
# "mid": the P1 mid-size config (benchmarks/encode.py), ~13M parameters, whose text forward is
# already compute-bound at batch 1 on a small CPU.
MODELS = {"default": {},
          "small": dict(text_hidden=256, text_layers=4, heads=4, kv_heads=2, intermediate=688, vision_hidden=64,
                        vision_layers=2, image_size=56, vocab_size=8000, max_tiles=4),
          "mid": dataclasses.asdict(MID)}  # P1's mid-size model (benchmarks/encode.py)
SERVERS = {"dynamic batching": ["--batch-size", "32", "--set", "max_wait_ms=5"],
           "one request per forward": ["--batch-size", "1", "--set", "max_wait_ms=0"]}


def request_bodies(n: int, mix: str, seed: int = 0) -> list[bytes]:
    """`n` one-item requests: short caption queries, 96x96 PNG data URLs, or 2 texts : 1 image."""
    rng = np.random.default_rng(seed)
    bodies = []
    for i in range(n):
        if mix == "images" or (mix == "mixed" and i % 3 == 2):
            pixels = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, format="PNG")
            item = {"image": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(),
                    "instruction": REPRESENT_IMAGE}
        else:
            item = {"text": " ".join(rng.choice(WORDS, size=int(rng.integers(4, 16)))),
                    "instruction": "Find an image that matches the caption:"}
        bodies.append(json.dumps({"input": [item]}).encode())
    return bodies


MIXES = ("texts", "images", "mixed")


def start_server(model: Path, extra: list[str], threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mme5.cli.main", "serve", "--model", str(model), "--port", str(port),
                             "--log-level", "warning", "--threads", str(threads), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server {extra} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


class Connection:
    """A minimal keep-alive HTTP/1.1 client for POST with JSON: the load generator.

    httpx costs ~1-2 ms of client CPU per request, which on 2 cores would cap both servers below
    what they can serve; this one only writes the request and reads status, headers and body.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status_line, *header_lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
        length = int({k.lower(): v for k, v in headers.items()}["content-length"])
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_load(url: str, bodies: list[bytes], concurrency: int, time_cap_s: float) -> dict:
    """`concurrency` clients, one connection each, send the bodies in turn until all are sent or the time cap passes."""
    host, port = url.removeprefix("http://").split(":")
    latencies, errors, next_index = [], 0, 0
    start = time.perf_counter()

    async def client() -> None:
        nonlocal errors, next_index
        connection = Connection(host, int(port))
        try:
            while next_index < len(bodies) and time.perf_counter() - start < time_cap_s:
                body = bodies[next_index]
                next_index += 1
                t0 = time.perf_counter()
                status, payload = await connection.post("/v1/embeddings", body)
                latencies.append(time.perf_counter() - t0)
                errors += status != 200 or payload.count(b'"object":"embedding"') != 1
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return {"requests": len(latencies), "errors": errors, "req_per_s": len(latencies) / wall,
            "p50_ms": 1000 * float(np.percentile(latencies, 50)), "p99_ms": 1000 * float(np.percentile(latencies, 99))}


def vectors(url: str, bodies: list[bytes]) -> np.ndarray:
    return np.array([httpx.post(f"{url}/v1/embeddings", content=b, headers={"content-type": "application/json"},
                                timeout=60).json()["data"][0]["embedding"] for b in bodies], dtype=np.float32)


def mean_batch(url: str) -> float:
    values = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("mme5_batch_size_items_"):
            name, value = line.split()[:2]
            values[name] = float(value)
    return values["mme5_batch_size_items_sum"] / max(values["mme5_batch_size_items_count"], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--requests", type=int, default=128,
                    help="requests per run, at least 4 per client (each run also stops at --time-cap)")
    ap.add_argument("--time-cap", type=float, default=60.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--mixes", nargs="+", default=list(MIXES), choices=MIXES)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per server (default 1: the other core runs HTTP and the load generator)")
    ap.add_argument("--out", default="benchmarks/results/serving.json")
    args = ap.parse_args()

    from mme5.model.backbones import TinySizes
    from mme5.model.tiny import build_tiny

    base_name, ours_name = "one request per forward", "dynamic batching"
    rows, raw, diffs, batches = [], {}, {}, {}
    for model_name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            model = build_tiny("mllama", Path(tmp) / model_name, sizes=TinySizes(**MODELS[model_name]))
            servers = {name: start_server(model, extra, args.threads) for name, extra in SERVERS.items()}
            try:
                urls = {name: url for name, (_, url) in servers.items()}
                check = request_bodies(12, "mixed", seed=1)
                diffs[model_name] = float(np.abs(vectors(urls[ours_name], check) - vectors(urls[base_name], check)).max())
                runs = {mix: {name: {c: [] for c in args.concurrency} for name in servers} for mix in args.mixes}
                for mix in args.mixes:
                    for url in urls.values():  # warm-up (first forwards, allocator, connections): not measured
                        asyncio.run(run_load(url, request_bodies(32, mix, seed=2), 8, args.time_cap))
                    for c in args.concurrency:
                        bodies = request_bodies(max(args.requests, 4 * c), mix)
                        for repeat in range(args.repeats):
                            # alternate, and swap who goes first, so machine noise hits both the same way
                            for name in (list(urls) if repeat % 2 == 0 else list(urls)[::-1]):
                                runs[mix][name][c].append(asyncio.run(run_load(urls[name], bodies, c, args.time_cap)))
                batches[model_name] = mean_batch(urls[ours_name])
            finally:
                for proc, _ in servers.values():
                    proc.terminate()
                    proc.wait(30)
        raw[model_name] = runs
        for mix in args.mixes:
            for c in args.concurrency:
                med = {name: {k: statistics.median(r[k] for r in runs[mix][name][c]) for k in ("req_per_s", "p50_ms", "p99_ms")}
                       for name in SERVERS}
                errors = sum(r["errors"] for name in SERVERS for r in runs[mix][name][c])
                rows.append({"model": model_name, "mix": mix, "concurrency": c, "ours": med[ours_name],
                             "baseline": med[base_name], "errors": errors,
                             "speedup": med[ours_name]["req_per_s"] / med[base_name]["req_per_s"]})
    result = {
        "benchmark": "P6 serving", "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(), "python": platform.python_version(),
        "models": {m: f"tiny Mllama {TinySizes(**MODELS[m])}" for m in args.models}, "torch_threads_per_server": args.threads,
        "mixes": {"texts": "caption queries, 4-16 words + instruction", "images": "96x96 PNG data URL + instruction",
                  "mixed": "2 texts : 1 image"},
        "baseline": f"{base_name} (same server, --batch-size 1)", "ours": f"{ours_name} (--batch-size 32 --set max_wait_ms=5)",
        "requests_per_run": args.requests, "repeats": args.repeats, "statistic": "median over repeats",
        "max_abs_diff_ours_vs_baseline_vectors": diffs, "mean_batch_items_dynamic": batches, "rows": rows, "raw": raw,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"P6 serving on {result['machine']} ({result['cpus']} CPUs, load average {os.getloadavg()[0]:.1f}), "
          f"models {args.models}, {args.threads} torch thread(s) per server; one item per request, "
          f"{args.requests} requests per run, median of {args.repeats}")
    print(f"| model | mix | concurrency | {base_name}: req/s, p50, p99 | {ours_name}: req/s, p50, p99 | speedup | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        b, o = r["baseline"], r["ours"]
        print(f"| {r['model']} | {r['mix']} | {r['concurrency']} | {b['req_per_s']:.1f}, {b['p50_ms']:.0f} ms, {b['p99_ms']:.0f} ms | "
              f"{o['req_per_s']:.1f}, {o['p50_ms']:.0f} ms, {o['p99_ms']:.0f} ms | {r['speedup']:.2f}x | {r['errors']} |")
    for m in args.models:
        print(f"{m}: vectors ours vs baseline max |diff| {diffs[m]:.1e}; mean items per forward (dynamic, all runs) {batches[m]:.1f}")


if __name__ == "__main__":
    main()
