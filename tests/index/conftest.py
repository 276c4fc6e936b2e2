"""Index fixtures: real vectors (the tiny model over 2,000 multilingual emoji names) embedded once
into vector shards; each index-type test copies the shards and builds only its index."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")

LANGS = ("en", "de", "fr", "es", "it", "ja", "ru", "zh")


@pytest.fixture(scope="session")
def embedder(tiny_embedder):
    return tiny_embedder("mllama")


@pytest.fixture(scope="session")
def names_corpus(emoji_dir, tmp_path_factory) -> Path:
    """2,000 emoji names in 8 languages as a JSONL corpus (id = emoji id + language)."""
    rows = [json.loads(line) for line in (emoji_dir / "emoji.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for row in rows:
        out += [{"text": row["name"][lang], "id": f"{row['id']}/{lang}", "meta": {"lang": lang}}
                for lang in LANGS if lang in row["name"]]
    path = tmp_path_factory.mktemp("names") / "names.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out[:2000]), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def flat_index(names_corpus, embedder, tmp_path_factory) -> Path:
    """The corpus embedded (shards of 500) and indexed exactly: the parent of every other type."""
    from mme5.index.build import IndexOptions, build_index
    from mme5.index.engines import EngineOptions

    out = tmp_path_factory.mktemp("flat") / "index"
    build_index(embedder, names_corpus, out, shard_size=500, index=IndexOptions(kind="flat"),
                engine_options=EngineOptions(batch_size=64))
    return out


@pytest.fixture
def from_shards(flat_index, tmp_path):
    """A fresh index folder that already holds the embedded shards (a rebuild re-embeds nothing)."""
    def make(name: str) -> Path:
        out = tmp_path / name
        shutil.copytree(flat_index / "shards", out / "shards")
        return out

    return make


def corpus_vectors(index_dir: Path) -> np.ndarray:
    """All vectors of an index folder, read straight from its parquet shards with pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(p) for p in sorted((index_dir / "shards").glob("shard-*.parquet"))])
    column = table.column("vector").combine_chunks()
    return column.values.to_numpy().reshape(len(table), -1)


def exact_top_k(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Brute force with numpy (the reference the index is checked against)."""
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]
