"""MMEB-format loading from local JSONL / parquet / save_to_disk, deduplication and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mme5.evaluation.loaders import DataSource, load_mmeb_rows, local_subsets
from mme5.evaluation.tasks import custom_task, get_task
from mme5.evaluation.xtd import load_xtd
from mme5.types import InputError

from .conftest import mmeb_rows, write_images


def unique_pairs(rows):
    pairs = set()
    for r in rows:
        pairs.add((r["qry_text"], r["qry_img_path"]))
        pairs.update(zip(r["tgt_text"], r["tgt_img_path"]))
    return pairs


@pytest.mark.parametrize("task", ["ImageNet-1K", "MSCOCO_t2i", "RefCOCO"])  # jsonl, parquet, save_to_disk
def test_local_formats_load_rows_deduplicated(mmeb_dir, task):
    rows = mmeb_rows([f"imgs/{i}.png" for i in range(6)])[task]
    data = load_mmeb_rows(get_task(task), DataSource(str(mmeb_dir)))
    assert data.rows == len(rows) == data.rows_total
    assert len(data.items) == len(unique_pairs(rows))  # what the original eval encodes
    assert data.occurrences == sum(1 + len(r["tgt_text"]) for r in rows)
    ranking = data.rankings["row"]
    assert (ranking.positive == 0).all()
    for i, r in enumerate(rows):  # candidate order and content preserved, images under the image root
        got = [data.items[j] for j in ranking.candidate_ids[i] if j >= 0]
        assert [g.text for g in got] == r["tgt_text"]
        assert [g.image or "" for g in got] == [str(mmeb_dir / p) if p else "" for p in r["tgt_img_path"]]
        assert data.items[data.query_ids[i]].text == r["qry_text"]


def test_local_subsets_are_discovered(mmeb_dir):
    assert local_subsets(mmeb_dir) == ["ImageNet-1K", "MSCOCO_t2i", "RefCOCO"]  # not the image folder


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_mismatched_candidate_lists_are_a_row_error(tmp_path):
    rows = mmeb_rows(write_images(tmp_path / "imgs", 3))["MSCOCO_t2i"]
    rows[1]["tgt_img_path"] = rows[1]["tgt_img_path"][:2]
    write_jsonl(tmp_path / "mine.jsonl", rows)
    with pytest.raises(InputError, match=r"task mine: .*mine.jsonl:2: tgt_text has 3 candidates but tgt_img_path has 2"):
        load_mmeb_rows(custom_task("mine"), DataSource(str(tmp_path)))


def test_missing_columns_and_bad_json_name_the_line(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"qry_text": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"a.jsonl:1: missing column"):
        load_mmeb_rows(custom_task("a"), DataSource(str(tmp_path)))
    (tmp_path / "b.jsonl").write_text("\n{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"b.jsonl:2: invalid JSON"):
        load_mmeb_rows(custom_task("b"), DataSource(str(tmp_path)))


def test_missing_image_fails_with_task_row_path_or_is_skipped_and_counted(tmp_path):
    rows = mmeb_rows(write_images(tmp_path / "imgs", 4))["ImageNet-1K"]
    rows[2]["qry_img_path"] = "imgs/gone.png"
    write_jsonl(tmp_path / "ImageNet-1K.jsonl", rows)
    with pytest.raises(InputError, match=r"task ImageNet-1K: row 2: image file not found: .*imgs/gone.png"):
        load_mmeb_rows(get_task("ImageNet-1K"), DataSource(str(tmp_path)))
    data = load_mmeb_rows(get_task("ImageNet-1K"), DataSource(str(tmp_path), skip_missing=True))
    assert data.rows == 3 and data.rows_total == 4 and [s.row for s in data.skipped] == [2]


def test_absent_subset_and_hub_without_image_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="no data for subset 'VisDial'"):
        load_mmeb_rows(get_task("VisDial"), DataSource(str(tmp_path)))
    with pytest.raises(InputError, match="needs --image-dir"):
        load_mmeb_rows(get_task("VisDial"), DataSource(None))


def test_hub_format_xtd_copy_gets_a_gallery_protocol(tmp_path):
    """Haon-Chen/XTD-10 rows saved locally (DIR/<lang>.jsonl): per-row lists plus the CLIP gallery."""
    images = write_images(tmp_path / "imgs", 5)
    rows = [{"qry_text": f"caption {i}", "qry_img_path": "", "tgt_text": ["<|image_1|>\nRepresent the given image.\n"] * 3,
             "tgt_img_path": [images[i], images[(i + 1) % 5], images[(i + 3) % 5]]} for i in range(5)]
    write_jsonl(tmp_path / "it.jsonl", rows)
    data = load_xtd(get_task("xtd-it"), DataSource(str(tmp_path)))
    assert data.rankings["row"].candidate_ids.shape == (5, 3)
    gallery = data.rankings["gallery"]
    assert gallery.candidate_ids.shape == (5, 5)
    positives = gallery.candidate_ids[np.arange(5), gallery.positive]
    assert [data.items[j].image for j in positives] == [str(tmp_path / p) for p in images]
    assert data.items[data.query_ids[0]].language == "it"
