"""XTD in the original layout: generated fixtures with the real files' quirks, and the real
files in ../shared/data (skipped when absent)."""
from __future__ import annotations

import numpy as np
import pytest

from mme5.evaluation.catalog import XTD_FILES
from mme5.evaluation.loaders import DataSource
from mme5.evaluation.tasks import get_task
from mme5.evaluation.xtd import load_xtd, read_layout, read_lines
from mme5.types import InputError

from .conftest import write_images, write_xtd_layout

CAPTIONS = {
    "en": ["a cat", "a dog", "a red apple"],
    "ja": ["猫", "犬", "赤いりんご"],
    "de": ["eine Katze", "ein Hund", "ein roter Apfel"],
    "pl": ["kot\u0085z NEL", "pies", "czerwone jabłko"],  # U+0085 inside a caption must not split it
}


def test_reads_crlf_files_without_final_newline_and_the_jp_code(tmp_path):
    root = write_xtd_layout(tmp_path, CAPTIONS, ["0.png", "1.png", "2.png"], crlf=True, trailing_newline=False)
    layout = read_layout(root)
    assert sorted(layout.captions) == ["de", "en", "ja", "pl"]
    assert layout.captions == CAPTIONS
    assert layout.caption_file("ja").name == "test_1kcaptions_jp.txt"
    assert layout.image_names == ["0.png", "1.png", "2.png"]


def test_reads_lf_files_with_final_newline_and_a_bom(tmp_path):
    root = write_xtd_layout(tmp_path, {"en": CAPTIONS["en"]}, ["0.png", "1.png", "2.png"], crlf=False, trailing_newline=True)
    path = root / "XTD10" / "test_1kcaptions_en.txt"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_lines(path) == CAPTIONS["en"]


def test_caption_count_must_match_image_names(tmp_path):
    root = write_xtd_layout(tmp_path, {"en": ["a", "b"]}, ["0.png", "1.png", "2.png"])
    with pytest.raises(InputError, match=r"test_1kcaptions_en.txt: 2 captions for 3 images"):
        read_layout(root)


def test_empty_caption_line_is_reported_with_its_line_number(tmp_path):
    root = write_xtd_layout(tmp_path, {"en": ["a", "", "c"]}, ["0.png", "1.png", "2.png"])
    with pytest.raises(InputError, match=r"test_1kcaptions_en.txt:2: empty line"):
        read_layout(root)


def test_layout_gives_both_protocols(tmp_path):
    images = [p.split("/")[-1] for p in write_images(tmp_path / "images", 4)]
    root = write_xtd_layout(tmp_path / "layout", {"ja": ["a", "b", "c", "d"]}, images)
    (tmp_path / "layout" / "images").symlink_to(tmp_path / "images")
    data = load_xtd(get_task("xtd-ja"), DataSource(str(root)))
    row, gallery = data.rankings["row"], data.rankings["gallery"]
    assert data.rows == 4 and len(data.items) == 8  # 4 captions + 4 images, each once
    assert (row.positive == 0).all() and row.candidate_ids.shape == (4, 4)
    # row i: its own image first, then the others in file order
    assert row.candidate_ids[2].tolist() == [gallery.candidate_ids[0][2], *np.delete(gallery.candidate_ids[0], 2)]
    assert gallery.positive.tolist() == [0, 1, 2, 3]
    assert data.items[data.query_ids[0]].language == "ja"
    assert data.items[data.query_ids[0]].instruction.startswith("Find me an everyday image")


def test_missing_image_names_task_row_and_path_or_is_skipped_and_counted(tmp_path):
    images = [p.split("/")[-1] for p in write_images(tmp_path / "images", 3)]
    (tmp_path / "images" / images[1]).unlink()
    root = write_xtd_layout(tmp_path, {"en": ["a", "b", "c"]}, images)
    with pytest.raises(InputError, match=r"task xtd-en: row 1: image file not found: .*1\.png"):
        load_xtd(get_task("xtd-en"), DataSource(str(root)))
    data = load_xtd(get_task("xtd-en"), DataSource(str(root), skip_missing=True))
    assert data.rows == 2 and len(data.skipped) == 1 and data.skipped[0].row == 1
    assert data.rankings["gallery"].candidate_ids.shape == (2, 2)


def test_images_not_found_anywhere_says_where_it_looked(tmp_path):
    root = write_xtd_layout(tmp_path / "layout", {"en": ["a"]}, ["nope.png"])
    with pytest.raises(FileNotFoundError, match="--image-dir"):
        load_xtd(get_task("xtd-en"), DataSource(str(root)))


def test_real_xtd10_caption_files(xtd10_dir):
    layout = read_layout(xtd10_dir)
    assert sorted(layout.captions) == sorted(XTD_FILES)
    assert len(layout.image_names) == 1000 and layout.image_names[0].startswith("COCO_train2014_")
    assert sum(name.startswith("COCO_val2014_") for name in layout.image_names) == 200
    for lang, captions in layout.captions.items():
        assert len(captions) == 1000, lang
        assert not any("\r" in c or "\n" in c or not c.strip() for c in captions), lang
    assert len(set(layout.captions["es"])) > 990  # 1,000 real, mostly distinct captions


def test_real_emoji_xtd_layout_with_images(emoji_dir):
    root = emoji_dir / "xtd_format"
    layout = read_layout(root)
    assert len(layout.captions) == 11 and all(len(c) == 1000 for c in layout.captions.values())
    data = load_xtd(get_task("xtd-ja"), DataSource(str(root)))
    assert data.rows == 1000 and len(data.items) == 2000  # CLDR names are unique per language
    assert data.rankings["row"].candidate_ids.shape == (1000, 1000)
    first_image = data.items[int(data.rankings["row"].candidate_ids[0, 0])].image
    assert first_image == str(emoji_dir / "images" / layout.image_names[0])
