"""Compact vectors, one home for every caller (embed, serving, index, eval, benchmarks):
Matryoshka prefixes (truncate + L2-normalise), int8 / uint8 with recorded per-dimension ranges,
binary / ubinary (the sign bits packed 8 per byte, as `np.packbits`), base64 of any of them, and
rescoring a shortlist with better vectors.

Format names are Cohere's (`embedding_types`): `float`, `int8`, `uint8`, `binary` (packed bits as
int8, byte - 128), `ubinary` (packed bits as uint8). Inner products of normalised float vectors
are cosines; `similarity_view` gives, for every format, float vectors whose inner products rank
exactly as the compact vectors would be searched (int8: the dequantised values; binary:
+-1/sqrt(d), so the inner product is 1 - 2 * hamming / d).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("float", "int8", "uint8", "binary", "ubinary")
QUANTIZE = ("none", "int8", "binary")
"""What an index or an eval view stores: float, int8 codes, or packed sign bits."""
DEFAULT_INT8_SIGMAS = 8.0
"""Without calibration, int8 covers +-8/sqrt(dim) per coordinate: 8 standard deviations of a
random unit vector's coordinate, clipped at 1."""


def truncate(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    """(n, d) -> (n, dim) float32: the leading `dim` coordinates, L2-normalised again (None = all)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if dim is None or dim >= vectors.shape[1]:
        return vectors
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    cut = vectors[:, :dim]
    return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)


def trained_dims(folders: Sequence[str | Path | None], full_dim: int) -> tuple[int, ...] | None:
    """The prefix lengths a model was trained to serve, read from the `train_config.yaml` that
    `mme5 train` writes beside its weights (the first of `folders` holding one: adapter, then
    model): its `matryoshka_dims` (`full` = full_dim), else (full_dim,) alone. None when no folder
    holds one (a model not trained here: nothing is known, every length is allowed)."""
    import yaml

    for folder in folders:
        path = Path(folder) / "train_config.yaml" if folder else None
        if path is not None and path.is_file():
            dims = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("matryoshka_dims") or []
            return tuple(sorted({full_dim if d == "full" else min(int(d), full_dim) for d in dims} | {full_dim}))
    return None


def untrained_dim_error(dim: int, trained: tuple[int, ...] | None, full_dim: int) -> str | None:
    """Why `dim` should be refused (a prefix length the model was not trained for), or None."""
    if dim > full_dim:
        return f"{dim} exceeds the model's {full_dim} dimensions"
    if trained is None or dim in trained:
        return None
    return (
        f"{dim} is not a trained prefix length; this model was trained for {', '.join(map(str, trained))} "
        "(matryoshka_dims in its train_config.yaml) and an untrained prefix loses much more recall"
    )


@dataclass(frozen=True)
class Int8Codec:
    """Per-dimension affine int8: v ~= low + step * (code + 128), codes in [-128, 127].

    `fit` records each dimension's range on calibration vectors (the index's training sample, the
    embedded batch); `fixed` uses +-bound everywhere (the server, which sees one request at a time)."""

    low: np.ndarray
    step: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray) -> Int8Codec:
        vectors = np.asarray(vectors, dtype=np.float32)
        low, high = vectors.min(axis=0), vectors.max(axis=0)
        return cls(low, np.maximum(high - low, 1e-12) / 255.0)

    @classmethod
    def fixed(cls, dim: int, bound: float | None = None) -> Int8Codec:
        bound = min(1.0, DEFAULT_INT8_SIGMAS / np.sqrt(dim)) if bound is None else bound
        return cls(np.full(dim, -bound, np.float32), np.full(dim, 2 * bound / 255.0, np.float32))

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """(n, d) float -> (n, d) int8 (values outside the range are clipped)."""
        codes = np.rint((np.asarray(vectors, dtype=np.float32) - self.low) / self.step) - 128
        return np.clip(codes, -128, 127).astype(np.int8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n, d) int8 -> (n, d) float32 (the centre of each code's bucket)."""
        return (self.low + self.step * (codes.astype(np.float32) + 128)).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {"low": [float(x) for x in self.low], "step": [float(x) for x in self.step]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Int8Codec:
        return cls(np.asarray(data["low"], np.float32), np.asarray(data["step"], np.float32))


def pack_bits(vectors: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, ceil(d / 8)) uint8: bit = coordinate > 0, most significant bit first."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


def unpack_signs(packed: np.ndarray, dim: int) -> np.ndarray:
    """Packed bits -> (n, dim) float32 of +-1/sqrt(dim): inner product = 1 - 2 * hamming / dim."""
    bits = np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=1, count=dim)
    return ((bits.astype(np.float32) * 2 - 1) / np.sqrt(dim)).astype(np.float32)


def encode(vectors: np.ndarray, fmt: str, codec: Int8Codec | None = None) -> np.ndarray:
    """Normalised float vectors -> one of FORMATS (int8 / uint8 with `codec`, default `fixed`)."""
    if fmt == "float":
        return np.asarray(vectors, dtype=np.float32)
    if fmt in ("int8", "uint8"):
        codes = (codec or Int8Codec.fixed(vectors.shape[1])).encode(vectors)
        return codes if fmt == "int8" else (codes.astype(np.int16) + 128).astype(np.uint8)
    if fmt in ("binary", "ubinary"):
        packed = pack_bits(vectors)
        return packed if fmt == "ubinary" else (packed.astype(np.int16) - 128).astype(np.int8)
    raise ValueError(f"unknown vector format {fmt!r}: choose one of {', '.join(FORMATS)}")


def to_base64(row: np.ndarray) -> str:
    """One encoded row -> base64 of its bytes (float: little-endian float32, OpenAI's convention)."""
    if row.dtype.kind == "f":
        row = row.astype("<f4")
    return base64.b64encode(np.ascontiguousarray(row).tobytes()).decode("ascii")


def bytes_per_vector(dim: int, quantize: str) -> int:
    """Storage of one vector: float32, int8 codes or packed bits."""
    return {"none": 4 * dim, "int8": dim, "binary": (dim + 7) // 8}[quantize]


@dataclass(frozen=True)
class View:
    """A compact view of float vectors: a prefix length (None = all), a quantization, and a rescore
    factor (0 = none; else the top k x factor by the compact score are re-ranked by the full float
    vectors, as a compact index with a rescoring stage serves them)."""

    dim: int | None = None
    quantize: str = "none"
    rescore: int = 0

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZE:
            raise ValueError(f"quantize {self.quantize!r}: choose one of {', '.join(QUANTIZE)}")
        if self.dim is not None and self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if self.rescore < 0 or (self.rescore and self.quantize == "none" and self.dim is None):
            raise ValueError(f"rescore {self.rescore}: a factor >= 1 over a prefix or quantized view")

    @property
    def name(self) -> str:
        """e.g. `full-float`, `64-binary`, `full-binary+rescore4`."""
        base = f"{self.dim or 'full'}-{'float' if self.quantize == 'none' else self.quantize}"
        return base + (f"+rescore{self.rescore}" if self.rescore else "")

    @classmethod
    def parse(cls, name: str) -> View:
        """The inverse of `name`."""
        head, _, factor = name.partition("+rescore")
        dim, _, quantize = head.partition("-")
        try:
            return cls(
                None if dim == "full" else int(dim), "none" if quantize == "float" else quantize, int(factor or 0)
            )
        except ValueError:
            raise ValueError(
                f"vector view {name!r}: expected DIM-FORMAT[+rescoreN], e.g. 64-binary, full-int8, 32-binary+rescore4"
            ) from None


def views(dims: Sequence[int] = (), quantize: Sequence[str] = (), rescore: int = 0) -> tuple[View, ...]:
    """Every (dim, quantization) pair of `--dim D... --quantize Q...` but the full float vector;
    with `rescore`, each compact one also with that rescore factor."""
    lengths: list[int | None] = list(dims) or [None]
    pairs = [View(d, q) for d in lengths for q in (list(quantize) or ["none"])]
    if rescore:
        pairs += [View(v.dim, v.quantize, rescore) for v in pairs if v != View()]
    return tuple(v for v in dict.fromkeys(pairs) if v != View())


def similarity_view(vectors: np.ndarray, view: View, codec: Int8Codec | None = None) -> np.ndarray:
    """Float vectors whose inner products equal the compact search's scores (see module docstring).
    int8 without `codec` calibrates on `vectors` themselves."""
    cut = truncate(vectors, view.dim)
    if view.quantize == "int8":
        codec = codec or Int8Codec.fit(cut)
        return codec.decode(codec.encode(cut))
    if view.quantize == "binary":
        return unpack_signs(pack_bits(cut), cut.shape[1])
    return cut


def rescore(
    queries: np.ndarray, shortlist: np.ndarray, stored: Any, k: int, codec: Int8Codec | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each query's shortlist (q, s) of row ids (-1 = empty) by the inner product with
    `stored` rows (float vectors, or int8 codes decoded with `codec`; a memory map is fine: only
    the shortlisted rows are read) -> (scores (q, k), ids (q, k)), best first, -1 padded."""
    shortlist = np.asarray(shortlist, dtype=np.int64)
    if shortlist.shape[1] < k:
        shortlist = np.pad(shortlist, ((0, 0), (0, k - shortlist.shape[1])), constant_values=-1)
    valid = shortlist >= 0
    rows = np.where(valid, shortlist, 0)
    vectors = np.asarray(stored[rows.ravel()]).reshape(*rows.shape, -1)
    vectors = codec.decode(vectors.reshape(-1, vectors.shape[-1])).reshape(vectors.shape) if codec else vectors
    found = np.einsum("qsd,qd->qs", vectors.astype(np.float32), np.asarray(queries, dtype=np.float32))
    found[~valid] = -np.inf
    order = np.argsort(-found, axis=1, kind="stable")[:, :k]
    scores, ids = np.take_along_axis(found, order, 1), np.take_along_axis(shortlist, order, 1)
    ids[~np.isfinite(scores)] = -1
    return scores, ids
