"""Vector search over a corpus of items: a flat inner-product faiss index plus the corpus rows.

Vectors are L2-normalised, so inner product = cosine and `IndexFlatIP` is exact. Building is
resumable: vectors are written in chunks under `<out>/parts/` and reused when the same model and
corpus are built again after an interruption.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..inference.items import item_from_dict
from ..provenance import provenance, write_json
from ..jsonl import iter_jsonl_objects
from ..types import InputError, Item, MissingFileError

log = logging.getLogger(__name__)

INDEX_FILE, ROWS_FILE, INFO_FILE, PARTS_DIR = "index.faiss", "rows.jsonl", "index.json", "parts"
RESERVED = ("id", "meta")  # corpus-row keys besides the item fields: returned with search hits


@dataclass(frozen=True)
class Hit:
    index: int
    score: float


def read_corpus(path: str | Path) -> tuple[list[Item], list[dict[str, Any]]]:
    """JSONL rows `{text, image, instruction, language, id?, meta?}` -> items and their records.

    Relative image paths resolve against the corpus file's folder; records keep them as written.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"corpus file not found: {path}")
    items, records = [], []
    for where, row in iter_jsonl_objects(path):
        fields = {k: v for k, v in row.items() if k not in RESERVED}
        items.append(item_from_dict(fields, where, path.parent))
        rid = row.get("id")
        records.append({"id": None if rid is None else str(rid), "item": fields, "meta": row.get("meta")})
    if not items:
        raise InputError(f"{path}: no items (the file is empty)")
    return items, records


class VectorIndex:
    """A loaded index: faiss vectors, corpus records and the provenance it was built with."""

    def __init__(self, index: Any, records: list[dict[str, Any]], info: dict[str, Any]) -> None:
        if index.ntotal != len(records):
            raise ValueError(f"index holds {index.ntotal} vectors but {len(records)} corpus rows")
        self.faiss_index = index
        self.records = records
        self.info = info

    @property
    def dim(self) -> int:
        return int(self.faiss_index.d)

    @property
    def fingerprint(self) -> str:
        return str(self.info.get("model", {}).get("fingerprint", ""))

    def __len__(self) -> int:
        return len(self.records)

    def search(self, queries: np.ndarray, top_k: int) -> list[list[Hit]]:
        """(q, dim) L2-normalised queries -> for each, the `top_k` best rows by cosine, best first."""
        k = min(top_k, len(self))
        scores, rows = self.faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return [[Hit(int(i), float(s)) for i, s in zip(r, sc) if i >= 0] for r, sc in zip(rows, scores)]

    @classmethod
    def load(cls, path: str | Path) -> "VectorIndex":
        import faiss

        path = Path(path)
        missing = [f for f in (INDEX_FILE, ROWS_FILE, INFO_FILE) if not (path / f).is_file()]
        if missing:
            raise MissingFileError(f"{path} is not a complete index (missing {', '.join(missing)}); "
                                    "build one with `mme5 index build --input CORPUS.jsonl --output DIR`")
        info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
        with (path / ROWS_FILE).open(encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        return cls(faiss.read_index(str(path / INDEX_FILE)), records, info)


def build_index(
    embedder: Any,
    corpus: str | Path,
    out_dir: str | Path,
    *,
    batch_size: int = 16,
    chunk_size: int = 1024,
    config: dict[str, Any] | None = None,
    model: str = "",
) -> VectorIndex:
    """Embed every corpus item with `embedder.encode` and write index, rows and provenance to `out_dir`."""
    import faiss
    from tqdm.auto import tqdm

    corpus, out = Path(corpus), Path(out_dir)
    items, records = read_corpus(corpus)
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()
    parts = _parts_dir(out, {"fingerprint": embedder.fingerprint, "corpus_sha256": digest,
                             "chunk_size": chunk_size, "count": len(items)})
    starts = range(0, len(items), chunk_size)
    for number, start in enumerate(tqdm(starts, desc="index", unit="chunk", disable=len(starts) < 2)):
        part = parts / f"{number:06d}.npy"
        if part.is_file():
            continue  # done before an interruption
        vectors = embedder.encode(items[start:start + chunk_size], batch_size=batch_size)
        tmp = part.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            np.save(fh, vectors)
        tmp.replace(part)
    vectors = np.concatenate([np.load(parts / f"{n:06d}.npy") for n in range(len(starts))])

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    faiss.write_index(index, str(out / (INDEX_FILE + ".tmp")))
    (out / (INDEX_FILE + ".tmp")).replace(out / INDEX_FILE)
    tmp_rows = out / (ROWS_FILE + ".tmp")
    tmp_rows.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp_rows.replace(out / ROWS_FILE)
    info = provenance(
        config, model={"name": model, "fingerprint": embedder.fingerprint, "backbone": embedder.backbone.name,
                       "dim": int(vectors.shape[1])},
        corpus={"path": str(corpus.resolve()), "sha256": digest, "count": len(items)},
        index={"type": "faiss.IndexFlatIP", "metric": "cosine (inner product of L2-normalised vectors)"},
    )
    write_json(out / INFO_FILE, info)
    shutil.rmtree(parts)
    return VectorIndex(index, records, info)


def _parts_dir(out: Path, state: dict[str, Any]) -> Path:
    """`<out>/parts`, kept from an interrupted run only if model, corpus and chunking are the same."""
    parts = out / PARTS_DIR
    state_file = parts / "state.json"
    if parts.is_dir():
        try:
            previous = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous == state:
            log.info("resuming index build: reusing %d finished chunk(s) in %s", len(list(parts.glob("*.npy"))), parts)
            return parts
        log.info("discarding partial build in %s (model, corpus or chunk size changed)", parts)
        shutil.rmtree(parts)
    parts.mkdir(parents=True)
    write_json(state_file, state)
    return parts
