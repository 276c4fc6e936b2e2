"""Corpus sources: a parquet file and a folder of images give the same vectors and records as the
JSONL they mirror; JSONL ranges seek to the right records across blank lines."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mme5.index.build import build_index
from mme5.prompts import REPRESENT_IMAGE
from mme5.index.corpus import FolderCorpus, JsonlCorpus, open_corpus
from mme5.types import InputError, Item

from .conftest import corpus_vectors


@pytest.fixture
def assets():
    from importlib import resources
    from pathlib import Path

    return Path(str(resources.files("mme5").joinpath("assets")))


def test_jsonl_ranges_skip_blank_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    lines = [json.dumps({"text": f"t{i}", "id": i}) + ("\n\n" if i % 3 == 0 else "\n") for i in range(11)]
    path.write_text("".join(lines))
    corpus = JsonlCorpus(path, stride=4)
    assert len(corpus) == 11
    assert [r["id"] for r in corpus.records(4, 8)] == ["4", "5", "6", "7"]
    assert [r["id"] for r in corpus.records(8, 11)] == ["8", "9", "10"]
    with pytest.raises(ValueError, match="multiples of 4"):
        corpus.records(3, 5)


def test_parquet_corpus_equals_jsonl(tmp_path, assets, embedder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "img").mkdir()
    shutil.copy(assets / "cat.png", tmp_path / "img" / "cat.png")
    rows = [{"text": f"note {i} on topic {i % 2}", "id": f"n{i}"} for i in range(5)] + [{"image": "img/cat.png", "id": "cat"}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = pa.table({"text": [r.get("text") for r in rows], "image": [r.get("image") for r in rows],
                      "id": [r["id"] for r in rows]})
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=2)
    from_jsonl = build_index(embedder, tmp_path / "c.jsonl", tmp_path / "a", shard_size=3)
    from_parquet = build_index(embedder, tmp_path / "c.parquet", tmp_path / "b", shard_size=3)
    np.testing.assert_array_equal(corpus_vectors(tmp_path / "a"), corpus_vectors(tmp_path / "b"))
    assert [from_parquet.records[i] for i in range(6)] == [from_jsonl.records[i] for i in range(6)]


def test_folder_corpus_is_its_sorted_images(tmp_path, assets, embedder):
    (tmp_path / "pics" / "sub").mkdir(parents=True)
    shutil.copy(assets / "dog.png", tmp_path / "pics" / "sub" / "dog.png")
    shutil.copy(assets / "cat.png", tmp_path / "pics" / "cat.png")
    (tmp_path / "pics" / "notes.txt").write_text("not an image")
    assert isinstance(open_corpus(tmp_path / "pics"), FolderCorpus)
    index = build_index(embedder, tmp_path / "pics", tmp_path / "idx")
    assert [index.records[i]["id"] for i in range(2)] == ["cat.png", "sub/dog.png"]
    represent = REPRESENT_IMAGE  # a folder image gets the model's image document prompt
    expected = embedder.encode([Item(image=str(tmp_path / "pics" / "cat.png"), instruction=represent),
                                Item(image=str(tmp_path / "pics" / "sub" / "dog.png"), instruction=represent)])
    np.testing.assert_allclose(corpus_vectors(tmp_path / "idx"), expected, atol=1e-5)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no media files"):
        open_corpus(tmp_path / "empty")


def _pdf(path, colors) -> None:
    from PIL import Image

    pages = [Image.new("RGB", (80, 100), c) for c in colors]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=72)


def test_jsonl_whole_pdf_line_is_one_record_per_page(tmp_path, embedder):
    """`{"pdf": "x.pdf"}` in a JSONL corpus expands to its pages, as in a folder corpus and `mme5 embed`;
    ranges that start inside a PDF's pages seek to the right page."""
    pytest.importorskip("pypdfium2")
    _pdf(tmp_path / "a.pdf", [(200, 30, 30), (30, 200, 30)])
    _pdf(tmp_path / "b.pdf", [(30, 30, 200), (200, 200, 30), (90, 90, 90)])
    rows = [{"text": "first", "id": "t"}, {"pdf": "a.pdf", "id": "a"}, {"text": "middle"},
            {"pdf": "b.pdf", "instruction": "Represent the given image.", "meta": {"k": 1}}]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = JsonlCorpus(path, stride=2)
    records = corpus.records(0, len(corpus))
    assert [r["id"] for r in records] == ["t", "a#page=1", "a#page=2", None, None, None, None]
    assert [r["item"].get("page") for r in records] == [None, 1, 2, None, 1, 2, 3]
    assert records[5] == {"id": None, "item": {"pdf": "b.pdf", "instruction": "Represent the given image.", "page": 2},
                          "meta": {"k": 1}}
    for start in range(0, len(corpus), 2):  # every stride range equals the slice of the whole
        assert corpus.records(start, start + 2) == records[start:start + 2]
    index = build_index(embedder, path, tmp_path / "idx", shard_size=2)
    want = embedder.encode([Item(text="first"), Item(pdf=str(tmp_path / "a.pdf"), page=1),
                            Item(pdf=str(tmp_path / "a.pdf"), page=2), Item(text="middle")]
                           + [Item(pdf=str(tmp_path / "b.pdf"), page=n, instruction="Represent the given image.")
                              for n in (1, 2, 3)])
    assert len(index) == 7
    np.testing.assert_allclose(corpus_vectors(tmp_path / "idx"), want, atol=1e-5)


def test_jsonl_bad_pdf_line_is_refused_before_the_model_loads(tmp_path, capsys):
    from mme5.cli.main import main

    (tmp_path / "broken.pdf").write_bytes(b"not a pdf")
    for line, error in ((json.dumps({"pdf": "missing.pdf"}), "c.jsonl:2: PDF file not found"),
                        (json.dumps({"pdf": "broken.pdf"}), "c.jsonl:2: cannot open PDF")):
        (tmp_path / "c.jsonl").write_text(json.dumps({"text": "fine"}) + "\n" + line + "\n")
        # a model folder that does not exist: the corpus error must come first
        code = main(["index", "build", "--input", str(tmp_path / "c.jsonl"), "--output", str(tmp_path / "idx"),
                     "--model", str(tmp_path / "no-such-model")])
        assert code == 2
        assert error in capsys.readouterr().err
        assert not (tmp_path / "idx").exists()
