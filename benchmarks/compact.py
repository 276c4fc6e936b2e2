"""P12 compact vectors: bytes per vector, queries/s and recall@10 (vs exact float search) of
float flat, int8 (SQ8), binary, binary + int8 rescoring and binary + float rescoring, on the P9
synthetic corpus (`benchmarks/scale.py`: 256 Gaussian clusters, L2-normalised), through the
serving path (`mme5.index.compact.CompactSearcher`: shortlist in the compact index, re-ranking
with the rescoring vectors memory-mapped from disk).

    .venv/bin/python benchmarks/compact.py --vectors 1000000 --dim 256 [--prefix 256]

"Searched structure" = what a query scans in memory: the faiss index. The rescoring vectors live
on disk (only the shortlisted rows are read, through the page cache). Queries are corpus vectors
(excluded from the int8 calibration sample); truth = exact inner-product search at full dimension.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import synthetic, timed_qps  # noqa: E402  (the P9 corpus, the same QPS timing)

from mme5.index.ann import recall_at_k  # noqa: E402
from mme5.index.ann import plan_compact  # noqa: E402
from mme5.index.compact import CompactSearcher, build_compact  # noqa: E402
from mme5.quantize import Int8Codec, bytes_per_vector, pack_bits, truncate  # noqa: E402

K = 10
FACTORS = (1, 4, 16, 64, 256, 1024)  # shortlist = K x factor, until the target recall is reached


def searcher(vectors: np.ndarray, prefix: int, quantize: str, rescore: str, work: Path, sample: np.ndarray):
    """A CompactSearcher over `vectors` exactly as `mme5 index build --quantize` writes one."""
    plan = plan_compact("flat", len(vectors), prefix, quantize, 1 << 62)
    codec = Int8Codec.fit(truncate(sample, prefix)) if quantize == "int8" else None
    index = build_compact(plan, truncate(sample, prefix), codec)
    for start in range(0, len(vectors), 100_000):
        cut = truncate(vectors[start : start + 100_000], prefix)
        index.add(pack_bits(cut) if quantize == "binary" else np.ascontiguousarray(cut))
    stored, rescore_codec = None, None
    if rescore != "none":
        rescore_codec = Int8Codec.fit(sample) if rescore == "int8" else None
        path = work / f"rescore-{rescore}.npy"
        out = np.lib.format.open_memmap(path, "w+", np.int8 if rescore_codec else np.float32, vectors.shape)
        for start in range(0, len(vectors), 100_000):
            block = vectors[start : start + 100_000]
            out[start : start + len(block)] = rescore_codec.encode(block) if rescore_codec else block
        out.flush()
        del out
        stored = np.load(path, mmap_mode="r")
    info = {
        "type": "flat",
        "quantize": quantize,
        "params": {"dim": prefix},
        "full_dim": vectors.shape[1],
        "rescore": rescore,
    }
    return CompactSearcher(index, info, stored, rescore_codec), int(
        index.sa_code_size() if quantize == "int8" else index.code_size
    )


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--prefix", type=int, help="binary / int8 over this Matryoshka prefix (default: all dims)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.95, help="recall@10 the rescore factor is chosen for")
    parser.add_argument("--noise", type=float, default=1.0, help="per-coordinate noise x 1/sqrt(dim) (P9: 1.0)")
    parser.add_argument("--out", default="benchmarks/results/compact.json")
    args = parser.parse_args()
    prefix = args.prefix or args.dim
    t0 = time.perf_counter()
    vectors = synthetic(args.vectors, args.dim, noise=args.noise)
    rng = np.random.default_rng(1)
    query_rows = np.sort(rng.choice(len(vectors), args.queries, replace=False))
    queries = vectors[query_rows]
    sample = vectors[np.setdiff1d(rng.choice(len(vectors), 20_000, replace=False), query_rows)]
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(vectors)
    truth = flat.search(queries, K)[1]
    print(f"data + truth: {time.perf_counter() - t0:.1f} s", flush=True)
    batch = queries[:200]
    rows = [
        {
            "config": "float flat (IndexFlatIP)",
            "bytes_per_vector": 4 * args.dim,
            "qps": timed_qps(lambda q: flat.search(q, K), batch, args.repeats),
            "recall@10": 1.0,
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for quantize, rescore in (("int8", "none"), ("binary", "none"), ("binary", "int8"), ("binary", "float")):
            s, code = searcher(vectors, prefix, quantize, rescore, work, sample)
            assert code == bytes_per_vector(prefix, quantize)
            name = f"{quantize} {prefix}d" + ("" if rescore == "none" else f" + {rescore} rescore")
            for factor in FACTORS if rescore != "none" else (None,):
                found = s.search(queries, K, None, rescore_factor=factor, rescored=rescore != "none")[1]
                row = {
                    "config": name + (f" (x{factor})" if factor else ""),
                    "bytes_per_vector": code,
                    "rescore_bytes_per_vector_on_disk": 0
                    if rescore == "none"
                    else bytes_per_vector(args.dim, "int8" if rescore == "int8" else "none"),
                    "qps": timed_qps(
                        lambda q, s=s, f=factor, r=rescore != "none": s.search(
                            q, K, None, rescore_factor=f, rescored=r
                        ),
                        batch,
                        args.repeats,
                    ),
                    "recall@10": recall_at_k(found, truth),
                    "rescore_factor": factor,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                if factor and row["recall@10"] >= args.target:
                    break
    for row in rows:
        row["memory_ratio_vs_float"] = round(4 * args.dim / row["bytes_per_vector"], 1)
        row["qps_ratio_vs_float"] = round(row["qps"] / rows[0]["qps"], 2)
    result = {
        "vectors": args.vectors,
        "dim": args.dim,
        "prefix": prefix,
        "noise": args.noise,
        "queries": args.queries,
        "qps_batch": len(batch),
        "faiss_threads": faiss.omp_get_max_threads(),
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    for row in rows:
        print(
            f"{row['config']:<40} {row['bytes_per_vector']:>6} B  {row['memory_ratio_vs_float']:>5}x less  "
            f"{row['qps']:>9.1f} q/s ({row['qps_ratio_vs_float']}x)  recall@10 {row['recall@10']:.3f}"
        )


if __name__ == "__main__":
    main()
