"""Every local format yields the same examples; caps, image roots, bad images and empty data."""
from __future__ import annotations

import json

import pytest

from mme5.config import from_dict
from mme5.data import load_examples
from mme5.data.config import DataConfig
from mme5.data.mixture import load_mixture
from mme5.data.sources import resolve_source
from mme5.data.toy import toy_rows
from mme5.types import InputError

TARGET = "<|image_1|>\nRepresent the given image.\n"


@pytest.fixture
def rows():
    return [
        {"qry": f"caption {i}", "qry_image_path": "", "pos_text": TARGET, "pos_image_path": f"img/{i % 3}.png",
         "neg_text": repr([TARGET]), "neg_image_path": repr([f"img/{(i + 1) % 3}.png"])}
        for i in range(5)
    ] + [{"qry": TARGET, "qry_image_path": "img/0.png", "pos_text": "a label", "pos_image_path": "",
          "neg_text": "another label", "neg_image_path": "", "modality": "I2T"}]


@pytest.fixture
def data_dir(tmp_path, rows, rgb_images):
    (tmp_path / "img").mkdir()
    for i in range(3):
        rgb_images[i].save(tmp_path / "img" / f"{i}.png")
    return tmp_path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_parquet_disk_and_shards_agree(data_dir, rows):
    import datasets

    reference = load_examples(write_jsonl(data_dir / "train.jsonl", rows))
    assert len(reference) == 6 and reference[0].positive.image == str(data_dir / "img/0.png")
    assert [n.image for n in reference[0].hard_negatives] == [str(data_dir / "img/1.png")] * 3  # padded to 3
    table = datasets.Dataset.from_list([{**r, "modality": r.get("modality", "")} for r in rows])
    table.to_parquet(str(data_dir / "train.parquet"))
    table.save_to_disk(str(data_dir / "saved" / "SubsetA"))
    (data_dir / "shards").mkdir()
    write_jsonl(data_dir / "shards" / "part-00000.jsonl", rows[:4])
    write_jsonl(data_dir / "shards" / "part-00001.jsonl", rows[4:])
    for source, kw in [(data_dir / "train.parquet", {}), (data_dir / "saved", {"subset": "SubsetA"}),
                       (data_dir / "shards", {})]:
        got = load_examples(source, image_root=data_dir, **kw)
        assert [(e.query, e.positive, e.hard_negatives) for e in got] == \
               [(e.query, e.positive, e.hard_negatives) for e in reference], source


def test_cap_ratio_and_image_root(data_dir, rows):
    path = write_jsonl(data_dir / "train.jsonl", rows)
    assert len(load_examples(path, max_rows=2)) == 2
    three = load_examples(path, negative_ratio=3)
    assert [len(e.hard_negatives) for e in three] == [3] * 6  # padded by repeating the last
    assert len(load_examples(path, negative_ratio=0)[0].hard_negatives) == 0
    moved = data_dir / "elsewhere"
    moved.mkdir()
    rel = write_jsonl(moved / "train.jsonl", rows)
    with pytest.raises(InputError, match=r"elsewhere/train\.jsonl:1 positive: image file not found: .*img/0\.png"):
        load_examples(rel)
    assert load_examples(rel, image_root=data_dir)[0].positive.image == str(data_dir / "img/0.png")


def test_bad_images_fail_or_are_counted(data_dir, rows, caplog):
    (data_dir / "img" / "2.png").write_bytes(b"\x89PNG truncated")
    path = write_jsonl(data_dir / "train.jsonl", rows)
    assert len(load_examples(path, check_images="exists")) == 6  # existence only: corruption found later
    with pytest.raises(InputError, match=r"train\.jsonl:2 hard_negatives\[0\]: cannot read image .*img/2\.png"):
        load_examples(path, check_images="decode")
    with caplog.at_level("WARNING"):
        kept = load_examples(path, check_images="decode", on_bad_image="skip")
    assert len(kept) == 3 and "skipped 3 of 6 examples" in caplog.text  # rows 2, 3 and 5 use img/2.png
    (data_dir / "img" / "0.png").unlink()
    (data_dir / "img" / "1.png").unlink()
    with pytest.raises(InputError, match="no usable examples"):
        load_examples(path, on_bad_image="skip")


def test_unreadable_sources_are_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qry": "q", "qry_image_path": "", "pos_text": "p", "pos_image_path": ""}\n{oops\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: invalid JSON"):
        load_examples(bad)
    with pytest.raises(FileNotFoundError, match="neither a local file/folder nor a hub id"):
        load_examples(tmp_path / "missing.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unsupported file type '.csv'"):
        load_examples(tmp_path / "x.csv")
    hub = resolve_source("intfloat/mmE5-MMEB-hardneg", "DocVQA")  # decided without contacting the hub
    assert (hub.kind, hub.target, hub.subset) == ("hub", "intfloat/mmE5-MMEB-hardneg", "DocVQA")


def test_mixture_weights_and_report(data_dir, rows, tmp_path):
    path = write_jsonl(data_dir / "train.jsonl", rows)
    cfg = from_dict(DataConfig, {"negative_ratio": 1, "sources": [
        {"path": str(path), "weight": 2.0, "name": "double"},
        {"path": str(path), "weight": 0.5, "max_rows": 4, "name": "half"}]})
    data = load_mixture(cfg, seed=1)
    assert [r["used"] for r in data.report] == [12, 2]
    assert {e.source for e in data.examples} == {"double", "half"} and len(data.wheres) == 14
    assert load_mixture(cfg, seed=1).wheres == data.wheres  # seeded
    with pytest.raises(InputError, match="no training examples left"):
        load_mixture(from_dict(DataConfig, {"sources": [{"path": str(path), "weight": 0.0}]}))


def test_toy_set_is_valid_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("MME5_CACHE", str(tmp_path))
    examples = load_examples("toy:shapes", negative_ratio=1, check_images="decode")
    assert len(examples) == len(toy_rows()) == 120
    assert sum(e.query.has_image for e in examples) == 24 and all(len(e.hard_negatives) == 1 for e in examples)
