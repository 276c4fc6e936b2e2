"""The Ray engine's two stages called directly (no Ray): the CPU task prepares the local engine's
batches, the replica runs only the model; together they give `Embedder.encode`'s vectors and report
truncated texts on one row per batch."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mme5.index.corpus import open_corpus
from mme5.index.engines import EmbedderSpec

pa = pytest.importorskip("pyarrow")
ray_engine = pytest.importorskip("mme5.index.ray_engine")


@pytest.fixture
def corpus(tmp_path):
    from importlib import resources
    from pathlib import Path

    assets = Path(str(resources.files("mme5").joinpath("assets")))
    shutil.copy(assets / "cat.png", tmp_path / "cat.png")
    rows = [{"text": "short"}, {"text": "a much longer text " * 12, "id": "long"}, {"image": "cat.png", "id": "cat"}]
    rows += [{"text": f"item {i} " * (i % 4 + 1)} for i in range(6)]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prepare_then_replica_equals_encode(corpus, tiny_dirs):
    spec = EmbedderSpec(model=str(tiny_dirs("mllama")), device="cpu", max_length=16)
    source = open_corpus(corpus, stride=4)
    shards = pa.table({"shard": [0, 1], "start": [0, 4], "end": [4, 9]})

    prepared = ray_engine._prepare(shards, source, spec, 3)
    batches = prepared.column("rows").to_pylist()
    assert sorted(r for rows in batches for r in rows) == list(range(9))
    assert all(len(rows) <= 3 for rows in batches)  # batches of at most 3, within a shard
    assert all({r < 4 for r in rows} == {shard == 0} for rows, shard in zip(batches, prepared.column("shard").to_pylist()))

    replica = ray_engine._EmbedActor(spec, "cpu", spec.fingerprint("cpu"), 1)
    out = replica(prepared)
    rows = out.column("row").to_pylist()
    vectors = np.array(out.column("vector").to_pylist(), np.float32)[np.argsort(rows)]

    embedder = spec.load()
    records = source.records(0, 9)
    from mme5.index.corpus import base_dir, to_item

    items = [to_item(r, base_dir(source), f"item {i}") for i, r in enumerate(records)]
    expected = np.concatenate([embedder.encode(items[:4], batch_size=3), embedder.encode(items[4:], batch_size=3)])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    truncated = out.column("truncated").to_pylist()
    assert sum(truncated) == embedder.truncated_total >= 1  # what encode counts, once per text


def test_replica_refuses_other_model_files(tiny_dirs):
    spec = EmbedderSpec(model=str(tiny_dirs("mllama")), device="cpu")
    with pytest.raises(RuntimeError, match="every node must see the same model files"):
        ray_engine._EmbedActor(spec, "cpu", "another-fingerprint", 1)


def test_prepare_decodes_videos_and_pdf_pages(tmp_path, tiny_dirs):
    """Media are decoded in the CPU task: a frames-folder video and a PDF page reach the replica as
    processor tensors and give the vectors `encode` gives (a native-video backbone)."""
    pytest.importorskip("pypdfium2")
    from PIL import Image

    (tmp_path / "clip").mkdir()
    for k in range(4):
        Image.new("RGB", (40, 30), (40 * k, 60, 90)).save(tmp_path / "clip" / f"{k}.png")
    pages = [Image.new("RGB", (80, 100), c) for c in ((200, 30, 30), (30, 200, 30))]
    pages[0].save(tmp_path / "a.pdf", save_all=True, append_images=pages[1:], resolution=72)
    rows = [{"video": "clip", "id": "v"}, {"pdf": "a.pdf", "page": 2, "id": "p"}, {"text": "a caption"}]
    (tmp_path / "media.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = EmbedderSpec(model=str(tiny_dirs("qwen2_vl")), device="cpu")
    source = open_corpus(tmp_path / "media.jsonl", stride=3)

    prepared = ray_engine._prepare(pa.table({"shard": [0], "start": [0], "end": [3]}), source, spec, 2)
    out = ray_engine._EmbedActor(spec, "cpu", spec.fingerprint("cpu"), 1)(prepared)
    rows_out = out.column("row").to_pylist()
    vectors = np.array(out.column("vector").to_pylist(), np.float32)[np.argsort(rows_out)]

    from mme5.index.corpus import base_dir, to_item

    items = [to_item(r, base_dir(source), f"item {i}") for i, r in enumerate(source.records(0, 3))]
    np.testing.assert_allclose(vectors, spec.load().encode(items, batch_size=2), atol=1e-6)


def test_prepare_keeps_the_token_budget(corpus, tiny_dirs):
    """`index build --max-batch-tokens` reaches the Ray engine's CPU tasks (they plan the batches):
    with a budget below every item, each item is a batch of its own; the local engine's embedder
    carries the same budget."""
    shards = pa.table({"shard": [0], "start": [0], "end": [9]})
    free = EmbedderSpec(model=str(tiny_dirs("mllama")), device="cpu", max_length=16)
    assert max(map(len, ray_engine._prepare(shards, open_corpus(corpus), free, 8).column("rows").to_pylist())) > 1
    spec = EmbedderSpec(model=str(tiny_dirs("mllama")), device="cpu", max_length=16, max_tokens=2)
    assert spec.load().max_tokens == 2
    batches = ray_engine._prepare(shards, open_corpus(corpus), spec, 8).column("rows").to_pylist()
    assert sorted(r for rows in batches for r in rows) == list(range(9)) and all(len(rows) == 1 for rows in batches)
