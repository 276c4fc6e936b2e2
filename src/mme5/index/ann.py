"""faiss index types that fit: a plan per type (factory string, parameters, bytes), `auto` rules
that pick one from vector count, dimension and a memory budget, training on a sample, adding in
bounded batches, and tuning nprobe / efSearch to a target recall@10 measured against exact search.

All indexes use inner product over L2-normalised vectors (= cosine), like `IndexFlatIP`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..config import ConfigError
from ..quantize import bytes_per_vector

KINDS = ("flat", "ivf-flat", "ivf-pq", "hnsw")
ADD_BATCH = 65_536  # vectors per faiss add() call: bounded extra memory during the build
MIN_POINTS_PER_LIST = 39  # faiss k-means warns below this many training points per centroid
MAX_POINTS_PER_LIST = 64  # training points per centroid (faiss accepts 39-256): keeps k-means to minutes at 10^8
FLAT_MAX = 50_000  # auto: below this, exact search is cheap enough and needs no training
HNSW_MAX = 500_000  # auto: above this, HNSW's insertion time dominates; IVF trains on a sample
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80  # faiss's default 40 left recall@10 at 0.90 (ef_search 1024) on 1M x 256
K_FACTORS = (1, 2, 4, 8, 16, 32)  # IVF-PQ re-rank: candidates per wanted hit, scored exactly
ID_BYTES = 8  # IVF lists store an int64 id per vector
SEARCH_KNOB = {"flat": None, "ivf-flat": "nprobe", "ivf-pq": "nprobe", "hnsw": "ef_search"}
KNOB_GRID = {
    "nprobe": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    "ef_search": (16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
}
_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 2**10,
    "kib": 2**10,
    "m": 2**20,
    "mb": 2**20,
    "mib": 2**20,
    "g": 2**30,
    "gb": 2**30,
    "gib": 2**30,
    "t": 2**40,
    "tb": 2**40,
    "tib": 2**40,
}


@dataclass(frozen=True)
class IndexPlan:
    """What to build: the type, its faiss factory string and parameters, and its estimated size."""

    kind: str
    factory: str
    params: dict[str, int] = field(default_factory=dict)
    bytes_estimate: int = 0
    reason: str = ""
    quantize: str = "none"
    """none: a float faiss index; binary / int8: a compact index (mme5.index.compact)."""

    @property
    def knob(self) -> str | None:
        return SEARCH_KNOB[self.kind]

    def to_json(self) -> dict[str, Any]:
        """The plan as index.json records it (`type` = kind)."""
        data = asdict(self)
        return {"type": data.pop("kind"), **data}


def parse_bytes(text: str | int) -> int:
    """'4G', '512MiB', '1.5gb' or an int -> bytes; anything else is a ConfigError."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"--memory-budget {text!r}: expected a size like 512M, 4G or 1.5GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _nlist(n: int) -> int:
    """IVF lists: a power of two near 4*sqrt(n), with >= 39 training points per list."""
    target = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n))))
    return max(1, min(target, 2 ** int(math.log2(max(1, n // MIN_POINTS_PER_LIST)))))


def _flat(n: int, dim: int, budget: int) -> IndexPlan:
    return IndexPlan("flat", "Flat", {}, n * dim * 4)


def _ivf_flat(n: int, dim: int, budget: int) -> IndexPlan:
    nlist = _nlist(n)
    return IndexPlan("ivf-flat", f"IVF{nlist},Flat", {"nlist": nlist}, n * (dim * 4 + ID_BYTES) + nlist * dim * 4)


def _hnsw(n: int, dim: int, budget: int, m: int = HNSW_M) -> IndexPlan:
    params = {"hnsw_m": m, "ef_construction": HNSW_EF_CONSTRUCTION}
    return IndexPlan("hnsw", f"HNSW{m},Flat", params, int(n * (dim * 4 + 2 * m * 4 * 1.1)))


def _pq_bits(n: int) -> int:
    """Bits per PQ sub-code: 8 (256 centroids) once the corpus can train them, else 4 (faiss's other
    fast path; other widths train and search far slower)."""
    return 8 if n >= 256 * MIN_POINTS_PER_LIST else 4


def _ivf_pq(n: int, dim: int, budget: int, refine: bool = True) -> IndexPlan:
    """The largest code (bytes per vector, dividing dim) that fits the budget; at least 4 bytes.
    With an exact re-rank (`,RFlat`: the full float32 vectors kept beside the codes) when code +
    vectors fit the budget: PQ alone plateaus far below recall 0.95 on hard data."""
    nlist, bits = _nlist(n), _pq_bits(n)
    fixed = nlist * dim * 4 + dim * 256 * 4
    full = n * dim * 4 if refine else 0
    # at least 4 dimensions per sub-quantizer: finer splits train slowly and gain little
    options = [m for m in range(min(dim // 4, 128), 0, -1) if dim % m == 0 and m * bits % 8 == 0]
    fitting = [m for m in options if n * (m * bits // 8 + ID_BYTES) + fixed + full <= budget]
    if refine and not fitting:
        plan = _ivf_pq(n, dim, budget, refine=False)
        why = f"no exact re-rank: codes + full vectors ({(plan.bytes_estimate + n * dim * 4) / 2**30:.2f} GiB) exceed the budget"
        return IndexPlan(plan.kind, plan.factory, plan.params, plan.bytes_estimate, why)
    m = (fitting or options[-1:])[0]
    params = {"nlist": nlist, "pq_bytes": m * bits // 8, "pq_m": m, "pq_bits": bits, "refine": int(refine)}
    factory = f"IVF{nlist},PQ{m}x{bits}" + (",RFlat" if refine else "")
    return IndexPlan("ivf-pq", factory, params, n * (m * bits // 8 + ID_BYTES) + fixed + full)


PLANNERS: dict[str, Callable[[int, int, int], IndexPlan]] = {
    "flat": _flat,
    "ivf-flat": _ivf_flat,
    "ivf-pq": _ivf_pq,
    "hnsw": _hnsw,
}


BINARY_FLAT_MAX = 1_000_000  # auto: above this a binary flat scan per query gets slow; IVF lists instead
COMPACT_KINDS = {"binary": ("flat", "hnsw", "ivf-flat"), "int8": ("flat",)}
"""The searched structures a compact index (index/compact.py) can use, per quantization."""


def plan_compact(kind: str, n: int, dim: int, quantize: str, budget: int) -> IndexPlan:
    """The searched structure for `quantize` (binary / int8) over `dim`-long prefixes."""
    if quantize not in COMPACT_KINDS:
        raise ConfigError(f"--quantize {quantize!r}: choose binary or int8 (or none for a float index)")
    if kind == "auto":
        kind = "flat" if quantize == "int8" or n <= BINARY_FLAT_MAX else "ivf-flat"
    if kind not in COMPACT_KINDS[quantize]:
        raise ConfigError(
            f"--index {kind} with --quantize {quantize}: choose {' or '.join(COMPACT_KINDS[quantize])} or auto"
        )
    code = bytes_per_vector(dim, quantize)
    why = f"{quantize} codes of {dim} dims, {code} bytes per vector"
    if quantize == "int8":
        return IndexPlan("flat", "SQ8", {"dim": dim}, n * code, why, quantize)
    if kind == "hnsw":
        return IndexPlan(
            "hnsw",
            f"BHNSW{HNSW_M}",
            {"dim": dim, "hnsw_m": HNSW_M},
            int(n * (code + 2 * HNSW_M * 4 * 1.1)),
            why,
            quantize,
        )
    if kind == "ivf-flat":
        nlist = _nlist(n)
        return IndexPlan(
            "ivf-flat",
            f"BIVF{nlist}",
            {"dim": dim, "nlist": nlist},
            n * (code + ID_BYTES) + nlist * code,
            why,
            quantize,
        )
    return IndexPlan("flat", "BFlat", {"dim": dim}, n * code, why, quantize)


def _binary(n: int, dim: int, budget: int) -> IndexPlan:
    return plan_compact("auto", n, dim, "binary", budget)


def plan_auto(n: int, dim: int, budget: int) -> IndexPlan:
    """autofaiss-style: exact while small; HNSW while its graph fits and inserts stay cheap; then
    IVF-Flat if full vectors fit the budget; else IVF-PQ with the largest code that fits."""

    def fits(plan: IndexPlan) -> bool:
        return plan.bytes_estimate <= budget

    size = f"{n} vectors x {dim} dims, budget {budget / 2**30:.2f} GiB"
    chain = [
        (n <= FLAT_MAX, _flat, "small enough for exact search"),
        (n <= HNSW_MAX, _hnsw, "vectors + graph fit; HNSW answers fastest at this size"),
        (n <= HNSW_MAX, lambda n, dim, budget: _hnsw(n, dim, budget, m=16), "vectors + a smaller graph fit"),
        (True, _ivf_flat, "full vectors fit; IVF trains on a sample"),
        (True, _binary, "full vectors do not fit: binary codes in memory, rescored from float vectors on disk"),
        (True, lambda n, dim, budget: _ivf_pq(n, dim, budget, refine=False), "full vectors do not fit: PQ codes"),
    ]
    for allowed, planner, why in chain:
        plan = planner(n, dim, budget)
        if allowed and fits(plan):
            return IndexPlan(
                plan.kind, plan.factory, plan.params, plan.bytes_estimate, f"auto: {why} ({size})", plan.quantize
            )
    smallest = _ivf_pq(n, dim, 0, refine=False)
    raise ConfigError(
        f"--memory-budget too small: {size}; the smallest index (IVF-PQ, "
        f"{smallest.params['pq_bytes']} bytes/vector) needs {smallest.bytes_estimate / 2**30:.2f} GiB"
    )


def plan_index(kind: str, n: int, dim: int, budget: int) -> IndexPlan:
    """The plan for `kind` (one of KINDS or 'auto')."""
    if kind == "auto":
        return plan_auto(n, dim, budget)
    if kind not in PLANNERS:
        raise ConfigError(f"--index {kind!r}: choose one of {', '.join(KINDS)} or auto")
    return PLANNERS[kind](n, dim, budget)


def train_size(plan: IndexPlan) -> int:
    """Training points worth using: enough per IVF list and per PQ centroid, no more."""
    lists = plan.params.get("nlist", 0)
    pq = 2 ** plan.params.get("pq_bits", 0) if "pq_bits" in plan.params else 0
    return max(lists, pq) * MAX_POINTS_PER_LIST


def build_faiss(plan: IndexPlan, dim: int, batches: Callable[[], Iterator[np.ndarray]], sample: np.ndarray) -> Any:
    """Create the index, train it on `sample` (n, dim), then add every batch of `batches()` in order."""
    import faiss

    index: Any = faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
    base: Any = faiss.downcast_index(index.base_index) if hasattr(index, "k_factor") else index
    if hasattr(base, "do_polysemous_training"):
        base.do_polysemous_training = False  # on by default for IVF-PQ; minutes of training, unused here
    if "ef_construction" in plan.params:
        base.hnsw.efConstruction = plan.params["ef_construction"]
    if not index.is_trained:
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
    for batch in batches():
        for start in range(0, len(batch), ADD_BATCH):
            index.add(np.ascontiguousarray(batch[start : start + ADD_BATCH], dtype=np.float32))
    return index


def search_params(kind: str, knob_value: int | None, index: Any = None, k_factor: int | None = None) -> Any:
    """faiss SearchParameters for one call (thread-safe: the index itself is never modified); over a
    re-ranking index, wrapped with its k_factor (`k_factor`, else the one stored in the index)."""
    import faiss

    knob = SEARCH_KNOB[kind]
    inner = None
    if knob == "nprobe" and knob_value is not None:
        inner = faiss.SearchParametersIVF(nprobe=int(knob_value))  # type: ignore[call-arg]
    elif knob == "ef_search" and knob_value is not None:
        inner = faiss.SearchParametersHNSW(efSearch=int(knob_value))  # type: ignore[attr-defined]
    if index is None or not hasattr(index, "k_factor"):
        return inner
    factor = float(k_factor if k_factor is not None else index.k_factor)
    return faiss.IndexRefineSearchParameters(k_factor=factor, base_index_params=inner)  # type: ignore[call-arg]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / k, for (q, k) id arrays (-1 = no result)."""
    hits = [len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits) / truth.shape[1])


def tune(
    search: Callable[[np.ndarray, int, int | None], np.ndarray],
    knob: str | None,
    limit: int,
    queries: np.ndarray,
    truth: np.ndarray,
    target: float,
) -> tuple[int | None, list[dict]]:
    """The smallest knob value (nprobe / ef_search, at most `limit`) whose recall@k on `queries`
    reaches `target`, else the best tried; and the whole recall curve. `search(q, k, value) -> ids`."""
    k = truth.shape[1]
    if knob is None:
        return None, [{"recall": recall_at_k(search(queries, k, None), truth)}]
    curve: list[dict] = []
    for value in [v for v in KNOB_GRID[knob] if v <= max(limit, 1)]:
        recall = recall_at_k(search(queries, k, value), truth)
        curve.append({knob: value, "recall": recall})
        if recall >= target:
            return value, curve
    best = max(curve, key=lambda row: row["recall"])
    return int(best[knob]), curve


def faiss_searcher(index: Any, kind: str) -> Callable[[np.ndarray, int, int | None], np.ndarray]:
    """`search(queries, k, knob_value) -> (q, k) ids` over a faiss index of `kind`."""

    def search(queries: np.ndarray, k: int, value: int | None) -> np.ndarray:
        params = search_params(kind, value, index)
        return index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)[1]

    return search


def tune_faiss(
    index: Any, kind: str, limit: int, queries: np.ndarray, truth: np.ndarray, target: float
) -> tuple[dict[str, int], list[dict]]:
    """Tune the search knob; over a re-ranking index, first with the largest k_factor, then the
    smallest k_factor that keeps the target at the chosen knob (stored in the index, which is saved
    with it). Returns the chosen settings and the curve (its last row = the chosen settings when the
    target is reached)."""
    knob = SEARCH_KNOB[kind]
    refine = hasattr(index, "k_factor")
    if refine:
        index.k_factor = float(K_FACTORS[-1])
    value, curve = tune(faiss_searcher(index, kind), knob, limit, queries, truth, target)
    chosen = {knob: value} if knob and value is not None else {}
    if not refine:
        return chosen, curve
    for row in curve:
        row["k_factor"] = K_FACTORS[-1]
    search = faiss_searcher(index, kind)
    for factor in K_FACTORS:
        index.k_factor = float(factor)
        recall = recall_at_k(search(queries, truth.shape[1], value), truth)
        curve.append({**chosen, "k_factor": factor, "recall": recall})
        if recall >= target:
            break
    if curve[-1]["recall"] < target:  # the target is out of reach: keep the best setting tried
        index.k_factor = float(max(curve, key=lambda row: row["recall"])["k_factor"])
    return {**chosen, "k_factor": int(index.k_factor)}, curve
