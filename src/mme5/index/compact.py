"""Compact indexes: a Matryoshka prefix of every vector, quantized (binary sign bits in a faiss
binary index, or int8 codes in a scalar-quantizer index), searched in memory for a shortlist of
`k * rescore_factor` rows, which are re-ranked with the full-dimension vectors (float32, or int8
codes) kept on disk in `rescore.npy` and memory-mapped: only the shortlisted rows are read.

Memory is what the searched structure takes (binary: dim/8 bytes per vector, 1/32 of float32);
the rescoring vectors cost disk and page cache. The build measures recall@10 of the served
configuration, and of the compact search alone, against exact float search (index.json).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigError
from ..quantize import Int8Codec, pack_bits, rescore, trained_dims, truncate, untrained_dim_error
from .ann import KNOB_GRID, SEARCH_KNOB, IndexPlan, plan_compact, recall_at_k, search_params, train_size
from .sinks import IndexOptions, Vectors, held_out

CODES_FILE, RESCORE_FILE = "index.compact", "rescore.npy"
RESCORE_FACTORS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Shortlists tried by the build (k x factor rows re-ranked); sign bits of noisy vectors need hundreds."""
CALIBRATION_ROWS = 20_000  # int8 ranges are fitted on this many corpus vectors (at most)


class CompactSearcher:
    """Shortlist in the compact index, then (unless rescore is none) exact re-ranking of the
    shortlist with the memory-mapped full-dimension vectors. Queries are full-dimension floats."""

    def __init__(self, faiss_index: Any, info: dict[str, Any], stored: Any = None, codec: Int8Codec | None = None):
        self.faiss_index, self.info, self.stored, self.codec = faiss_index, info, stored, codec
        self.kind, self.quantize = info["type"], info["quantize"]
        self.prefix = int(info["params"]["dim"])
        self.dim = int(info["full_dim"])
        self.size = int(faiss_index.ntotal)
        self.rescore_factor = int(info.get("search", {}).get("rescore_factor", 1))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, info: dict[str, Any]) -> CompactSearcher:
        import faiss

        read = faiss.read_index_binary if info["quantize"] == "binary" else faiss.read_index
        index = read(str(folder / CODES_FILE))
        stored = np.load(folder / RESCORE_FILE, mmap_mode="r") if info["rescore"] != "none" else None
        codec = Int8Codec.from_json(info["rescore_int8"]) if info["rescore"] == "int8" else None
        return cls(index, info, stored, codec)

    def search(
        self, queries: np.ndarray, k: int, knob: int | None, *, rescore_factor: int | None = None, rescored: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the best `k` per query; cosine at full dimension when rescored."""
        cut = truncate(queries, self.prefix)
        rescored = rescored and self.stored is not None
        shortlist = min(self.size, k * (rescore_factor or self.rescore_factor) if rescored else k)
        params = search_params(self.kind, knob)
        if self.quantize == "binary":
            distances, rows = self.faiss_index.search(pack_bits(cut), shortlist, params=params)
            scores = 1 - 2 * distances.astype(np.float32) / self.prefix  # = the +-1/sqrt(d) inner product
        else:
            scores, rows = self.faiss_index.search(np.ascontiguousarray(cut), shortlist, params=params)
        if not rescored:
            return scores[:, :k], rows[:, :k].astype(np.int64)
        with self._lock:  # page-cache reads of one memory map: one query batch at a time
            return rescore(queries, rows, self.stored, k, self.codec)


def build_compact(plan: IndexPlan, sample: np.ndarray, codec: Int8Codec | None) -> Any:
    """An empty (trained) faiss structure for `plan`: binary flat/HNSW/IVF, or SQ8 set to `codec`'s
    ranges (faiss's 8-bit code of x is then exactly `codec.encode(x) + 128`)."""
    import faiss

    dim = int(plan.params["dim"])
    if plan.quantize == "binary":
        binary: Any = faiss.index_binary_factory(dim, plan.factory)
        if not binary.is_trained:
            binary.train(pack_bits(sample))
        return binary
    assert codec is not None
    index: Any = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    # faiss decodes vmin + (c + 0.5) / 255 * vdiff: our low + step * c with these two
    trained = np.concatenate([codec.low - codec.step / 2, codec.step * 255]).astype(np.float32)
    faiss.copy_array_to_vector(trained, index.sq.trained)
    index.is_trained = True
    return index


def compact_sink(vectors: Vectors, opts: IndexOptions, out: Path, plan: IndexPlan | None = None) -> dict[str, Any]:
    """Build, fill, tune (knob, then the smallest rescore factor reaching the target) and write a
    compact index; returns its index.json entry."""
    import faiss

    dim = opts.dim or vectors.dim
    error = untrained_dim_error(dim, trained_dims(opts.model_dirs, vectors.dim), vectors.dim)
    if error and (dim > vectors.dim or not opts.force_dim):
        raise ConfigError(f"--dim {error}" + ("" if dim > vectors.dim else "; pass --force-dim to index it anyway"))
    quantize = opts.quantize if opts.quantize != "none" else "binary"
    plan = plan or plan_compact(opts.kind, vectors.count, dim, quantize, opts.memory_budget)
    query_rows, train_rows = held_out(vectors.count, opts, max(train_size(plan), CALIBRATION_ROWS))
    sample = vectors.rows(train_rows) if len(train_rows) else vectors.rows(query_rows)
    codec = Int8Codec.fit(truncate(sample, dim)) if quantize == "int8" else None
    rescore_codec = Int8Codec.fit(sample) if opts.rescore == "int8" else None
    index = build_compact(plan, truncate(sample, dim), codec)
    stored = None
    if opts.rescore != "none":
        dtype = np.int8 if opts.rescore == "int8" else np.float32
        stored = np.lib.format.open_memmap(out / (RESCORE_FILE + ".tmp"), "w+", dtype, (vectors.count, vectors.dim))
    row = 0
    for batch in vectors.batches():
        cut = truncate(batch, dim)
        index.add(pack_bits(cut) if quantize == "binary" else np.ascontiguousarray(cut))
        if stored is not None:
            stored[row : row + len(batch)] = rescore_codec.encode(batch) if rescore_codec else batch
        row += len(batch)
    if stored is not None:
        stored.flush()
        del stored
        (out / (RESCORE_FILE + ".tmp")).replace(out / RESCORE_FILE)
    write = faiss.write_index_binary if quantize == "binary" else faiss.write_index
    write(index, str(out / (CODES_FILE + ".tmp")))
    (out / (CODES_FILE + ".tmp")).replace(out / CODES_FILE)
    info: dict[str, Any] = {
        "sink": "compact",
        **plan.to_json(),
        "full_dim": vectors.dim,
        "rescore": opts.rescore,
        **({"int8": codec.to_json()} if codec else {}),
        **({"rescore_int8": rescore_codec.to_json()} if rescore_codec else {}),
    }
    searcher = CompactSearcher.load(out, {**info, "search": {}})
    queries = vectors.rows(query_rows)
    truth = vectors.exact_top_k(queries, min(opts.k, vectors.count))
    chosen, curve, served = tune_compact(searcher, queries, truth, opts)
    return {
        **info,
        "bytes": (out / CODES_FILE).stat().st_size,
        "rescore_bytes": (out / RESCORE_FILE).stat().st_size if opts.rescore != "none" else 0,
        "search": chosen,
        f"recall_at_{opts.k}": served[-1]["recall"],
        "recall_target": opts.target_recall,
        "recall_queries": int(len(query_rows)),
        "recall_curve": curve,
        "recall_configurations": served,
        "recall_note": "held-out corpus vectors as queries, truth = exact float search at full dimension",
        "metric": "cosine at full dimension after rescoring; without it, the compact codes' similarity",
    }


def tune_compact(searcher: CompactSearcher, queries: np.ndarray, truth: np.ndarray, opts: Any):
    """The knob (nprobe / ef_search) at the largest rescore factor, then the smallest factor that
    reaches the target (or --rescore-factor as given). Returns (chosen settings, recall curve, the
    recall@k of the compact search alone and of the served configuration)."""
    k, target = truth.shape[1], opts.target_recall
    rescoring = searcher.stored is not None
    factors = (opts.rescore_factor,) if opts.rescore_factor else RESCORE_FACTORS
    top = {"rescore_factor": factors[-1]} if rescoring else {}

    def recall(value: int | None, factor: int | None = None, rescored: bool = rescoring) -> float:
        return recall_at_k(searcher.search(queries, k, value, rescore_factor=factor, rescored=rescored)[1], truth)

    def best(rows: list[dict]) -> dict:  # sweeps stop at the first row reaching the target
        return rows[-1] if rows[-1]["recall"] >= target else max(rows, key=lambda r: r["recall"])

    knob, chosen, curve = SEARCH_KNOB[searcher.kind], {}, []
    if knob is not None:
        limit = int(searcher.info["params"].get("nlist", 1 << 30))
        for tried in [v for v in KNOB_GRID[knob] if v <= limit]:
            curve.append({knob: tried, **top, "recall": recall(tried, factors[-1])})
            if curve[-1]["recall"] >= target:
                break
        chosen[knob] = int(best(curve)[knob])
    value: int | None = chosen.get(knob) if knob else None
    if rescoring:
        sweep = []
        for factor in factors:
            sweep.append({**chosen, "rescore_factor": factor, "recall": recall(value, factor)})
            if sweep[-1]["recall"] >= target:
                break
        chosen["rescore_factor"] = int(best(sweep)["rescore_factor"])
        curve += sweep
    served = [{"rescore": "none", "recall": recall(value, rescored=False)}]
    if rescoring:
        served.append(
            {"rescore": searcher.info["rescore"], **chosen, "recall": recall(value, chosen["rescore_factor"])}
        )
    return chosen, curve or [{"recall": served[0]["recall"]}], served
