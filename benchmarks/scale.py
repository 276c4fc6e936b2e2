"""P9 scale-out: (engine) Ray Data engine vs the single-process engine on the same corpus and model,
same vectors; (ann) each faiss index type and `auto` on N synthetic vectors: recall@10, queries/s
vs flat, build time, bytes; (kill) an embedding actor SIGKILLed mid-build, then a driver killed
mid-build and the command rerun: items lost / duplicated, vectors vs the single-process engine.

    .venv/bin/python benchmarks/scale.py --part engine --items 20000 --shard-size 2000 [--model small]
    .venv/bin/python benchmarks/scale.py --part ann --vectors 1000000 --dim 256
    .venv/bin/python benchmarks/scale.py --part kill --items 600

The synthetic ANN corpus (documented in RESULTS.md): a mixture of 256 Gaussian clusters in `dim`
dimensions (unit centres, per-coordinate noise 1/sqrt(dim): noise as large as the centre), so each
cluster spans many IVF lists and neighbours straddle list borders; L2-normalised. Queries are
corpus vectors left out of training, truth = exact inner-product search.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from mme5.index.ann import build_faiss, faiss_searcher, plan_index, recall_at_k, train_size, tune_faiss
from mme5.index.build import IndexOptions, build_index
from mme5.index.engines import EmbedderSpec, EngineOptions
from mme5.model.backbones.base import TinySizes
from mme5.model.tiny import build_tiny

CLUSTERS = 256
WORDS = "the a cat dog sits on red blue mat near window under tree with two people riding bikes at night".split()


def text_corpus(path: Path, n: int) -> Path:
    """n text items of 6-20 words (a seeded mix), as a JSONL corpus."""
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"text": " ".join(rng.choice(WORDS, rng.integers(6, 21))), "id": f"t{i}"}) + "\n")
    return path


def shard_table(out: Path) -> tuple[list[int], np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(p) for p in sorted((out / "shards").glob("shard-*.parquet"))])
    return table.column("row").to_pylist(), np.array(table.column("vector").to_pylist(), np.float32)


# "small": the size of the smallest published text embedders (MiniLM-L6: hidden 384, 6 layers), as a
# tiny-family Mllama built from a config (15M parameters with its vision tower); "tiny": the default
SMALL = TinySizes(text_hidden=384, text_layers=6, heads=6, kv_heads=6, intermediate=1536, vocab_size=4000)


def timed_build(spec: EmbedderSpec, corpus: Path, out: Path, engine: str, args) -> float:
    """Seconds of one `build_index` (flat index) of `corpus` into `out` on `engine`."""
    t0 = time.perf_counter()
    options = EngineOptions(batch_size=args.batch_size, actors=args.actors)
    build_index(
        spec,
        corpus,
        out,
        engine=engine,
        engine_options=options,
        shard_size=args.shard_size,
        index=IndexOptions(kind="flat"),
    )
    return time.perf_counter() - t0


def ray_data_floor(repeats: int) -> float:
    """Median seconds of a Ray Data pipeline shaped like the engine's (10 one-row blocks -> a task
    stage -> a one-actor pool) whose functions do nothing: Ray Data's own per-build cost here."""
    import ray

    class Noop:
        def __call__(self, batch):
            return batch

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ds = ray.data.from_items([{"x": i} for i in range(10)], override_num_blocks=10)
        ds = ds.map_batches(lambda b: b, batch_size=1, num_cpus=0.5)
        ds = ds.map_batches(Noop, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1)
        for _ in ds.iter_batches(batch_size=None):
            pass
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def engine_part(args, work: Path) -> dict:
    """Throughput of both engines on one corpus (Ray started once, outside the timing; its start-up
    is reported on its own), median of `repeats` builds each, side by side: whole builds (embed +
    flat index + recall check) and the engine stage alone (`embed_seconds` in index.json)."""
    import ray

    corpus = text_corpus(work / "corpus.jsonl", args.items)
    model = None if args.model == "tiny" else str(build_tiny("mllama", work / "small", sizes=SMALL))
    spec = EmbedderSpec(model=model, device="cpu")
    parameters = sum(p.numel() for p in spec.load().model.parameters())  # also imports what the local engine needs
    started = time.perf_counter()
    ray.init(num_cpus=args.actors + 1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - started
    ray.data.DataContext.get_current().enable_progress_bars = False
    floor = ray_data_floor(3)
    times: dict[str, list[float]] = {"local": [], "ray": []}
    embed: dict[str, list[float]] = {"local": [], "ray": []}
    for repeat in range(args.repeats):
        for engine in ("local", "ray"):
            out = work / f"{engine}-{repeat}"
            times[engine].append(timed_build(spec, corpus, out, engine, args))
            embed[engine].append(json.loads((out / "index.json").read_text())["engine"]["embed_seconds"])
    ray.shutdown()
    rows_l, vec_l = shard_table(work / "local-0")
    rows_r, vec_r = shard_table(work / "ray-0")
    med = {k: statistics.median(v) for k, v in times.items()}
    med_embed = {k: statistics.median(v) for k, v in embed.items()}
    return {
        "model": args.model,
        "parameters_m": round(parameters / 1e6, 2),
        "items": args.items,
        "actors": args.actors,
        "shard_size": args.shard_size,
        "repeats": args.repeats,
        "seconds": times,
        "median_s": med,
        "items_per_s": {k: args.items / v for k, v in med.items()},
        "throughput_ratio_ray_vs_local": med["local"] / med["ray"],
        "embed_seconds": embed,
        "embed_median_s": med_embed,
        "engine_ratio_ray_vs_local": med_embed["local"] / med_embed["ray"],
        "ray_data_floor_s": floor,
        "ray_start_s": ray_start,
        "same_order": rows_l == rows_r == list(range(args.items)),
        "max_abs_diff": float(np.abs(vec_l - vec_r).max()),
    }


def synthetic(n: int, dim: int, seed: int = 0, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        block = centres[rng.integers(0, CLUSTERS, m)] + noise * rng.standard_normal(
            (m, dim), dtype=np.float32
        ) / np.sqrt(dim)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed_qps(search, queries: np.ndarray, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        search(queries)
        times.append(time.perf_counter() - t0)
    return len(queries) / statistics.median(times)


def ann_part(args, work: Path) -> dict:
    """Each index type (and auto) on the same vectors: build, tune to 0.95, recall, QPS vs flat."""
    import faiss

    x = synthetic(args.vectors, args.dim)
    rng = np.random.default_rng(1)
    query_rows = rng.choice(args.vectors, 1000, replace=False)
    queries = x[query_rows]
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(x)
    truth = flat.search(queries, 10)[1]
    timing = queries[: args.timing_queries]
    flat_qps = timed_qps(lambda q: flat.search(q, 10), timing, args.repeats)
    budget = int(args.memory_budget * 2**30)
    results = {
        "flat": {
            "recall_at_10": 1.0,
            "qps": flat_qps,
            "bytes": args.vectors * args.dim * 4,
            "build_s": 0.0,
            "factory": "Flat",
        }
    }
    for kind in args.kinds:
        plan = plan_index(kind, args.vectors, args.dim, budget)
        train = np.setdiff1d(rng.choice(args.vectors, min(args.vectors, train_size(plan)), replace=False), query_rows)
        t0 = time.perf_counter()
        index = build_faiss(plan, args.dim, lambda: iter([x]), x[np.sort(train)])
        build_s = time.perf_counter() - t0
        search = faiss_searcher(index, plan.kind)
        chosen, curve = tune_faiss(index, plan.kind, plan.params.get("nlist", 1 << 30), queries, truth, 0.95)
        value = chosen.get(plan.knob) if plan.knob else None  # a re-ranking index keeps its tuned k_factor
        qps = timed_qps(lambda q, search=search, value=value: search(q, 10, value), timing, args.repeats)
        results[kind] = {
            "type": plan.kind,
            "factory": plan.factory,
            "params": plan.params,
            "reason": plan.reason,
            "knob": chosen,
            "curve": curve,
            "recall_at_10": recall_at_k(search(queries, 10, value), truth),
            "qps": qps,
            "qps_vs_flat": qps / flat_qps,
            "build_s": build_s,
            "bytes": int(faiss.serialize_index(index).nbytes),
        }
        print(kind, json.dumps({k: v for k, v in results[kind].items() if k != "curve"}), flush=True)
        del index
    return {
        "vectors": args.vectors,
        "dim": args.dim,
        "memory_budget_gib": args.memory_budget,
        "timing_queries": args.timing_queries,
        "recall_queries": 1000,
        "repeats": args.repeats,
        "omp_threads": faiss.omp_get_max_threads(),
        "types": results,
    }


def kill_actor_when(out: Path, ready: threading.Event, killed: list, at_shards: int) -> None:
    """Once `at_shards` shards of this build are written (embedding under way), SIGKILL one of the
    build's embedding actors (not one left from an earlier build); note the shards written then."""
    import psutil

    def embed_actors() -> list:
        return [p for p in psutil.process_iter(["cmdline"]) if "EmbedActor" in " ".join(p.info["cmdline"] or [])]

    earlier = {p.pid for p in embed_actors()}
    while not ready.is_set():
        written = len(list((out / "shards").glob("shard-*.parquet")))
        actors = [p for p in embed_actors() if p.pid not in earlier]
        if actors and written >= at_shards:
            actors[0].kill()
            killed.append({"pid": actors[0].pid, "shards_written": written})
            return
        time.sleep(0.02)


def check(out: Path, reference: np.ndarray, n: int) -> dict:
    rows, vectors = shard_table(out)
    return {
        "items_lost": len(set(range(n)) - set(rows)),
        "items_duplicated": len(rows) - len(set(rows)),
        "max_abs_diff_vs_local": float(np.abs(vectors - reference).max()) if len(rows) == n else None,
    }


def kill_part(args, work: Path) -> dict:
    """(1) an actor SIGKILLed mid-build: Ray restarts it, the build completes; (2) the driver
    SIGKILLed mid-build, the same command rerun: only missing shards are recomputed."""
    import ray

    corpus = text_corpus(work / "corpus.jsonl", args.items)
    spec = EmbedderSpec(device="cpu")
    timed_build(spec, corpus, work / "local", "local", args)
    _, reference = shard_table(work / "local")

    ray.init(num_cpus=args.actors + 1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    clean_s = timed_build(spec, corpus, work / "ray-clean", "ray", args)
    ready, killed = threading.Event(), []
    watcher = threading.Thread(
        target=kill_actor_when, args=(work / "ray-kill", ready, killed, args.kill_at_shards), daemon=True
    )
    (work / "ray-kill" / "shards").mkdir(parents=True)
    watcher.start()
    killed_s = timed_build(spec, corpus, work / "ray-kill", "ray", args)
    ready.set()
    ray.shutdown()
    actor = {
        "actor_killed": killed[0] if killed else None,
        "shards_total": -(-args.items // args.shard_size),
        "clean_s": clean_s,
        "with_kill_s": killed_s,
        **check(work / "ray-kill", reference, args.items),
    }

    command = [
        sys.executable,
        "-m",
        "mme5.cli.main",
        "index",
        "build",
        "--input",
        str(corpus),
        "--output",
        str(work / "driver"),
        "--engine",
        "ray",
        "--actors",
        str(args.actors),
        "--shard-size",
        str(args.shard_size),
        "--batch-size",
        str(args.batch_size),
        "--index",
        "flat",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    shards_dir = work / "driver" / "shards"
    while proc.poll() is None and not list(shards_dir.glob("shard-*.parquet")):
        time.sleep(0.05)
    before = len(list(shards_dir.glob("shard-*.parquet")))
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started
    proc.wait()
    rerun = subprocess.run(command, capture_output=True, text=True)
    driver = {
        "shards_written_before_kill": before,
        "shards_total": -(-args.items // args.shard_size),
        "rerun_exit": rerun.returncode,
        "rerun_tail": rerun.stdout.strip().splitlines()[-1:],
        **check(work / "driver", reference, args.items),
    }
    return {
        "items": args.items,
        "shard_size": args.shard_size,
        "actors": args.actors,
        "actor_kill": actor,
        "driver_kill": driver,
    }


PARTS = {"engine": engine_part, "ann": ann_part, "kill": kill_part}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--model", choices=["tiny", "small"], default="tiny", help="engine part: which model")
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--kinds", nargs="+", default=["ivf-flat", "ivf-pq", "hnsw", "auto"])
    parser.add_argument("--memory-budget", type=float, default=4.0, help="GiB, for auto")
    parser.add_argument("--kill-at-shards", type=int, default=5, help="kill an actor once this many shards are written")
    parser.add_argument("--timing-queries", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/scale.json")
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    for name in PARTS if args.part == "all" else [args.part]:
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = {
                **PARTS[name](args, Path(tmp)),
                "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
        print(name, json.dumps(results[name], indent=1)[:3000], flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
