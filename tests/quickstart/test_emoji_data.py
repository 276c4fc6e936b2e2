"""The shipped emoji pack, packing, and the builder (CLDR parsing, RAQM rendering, filtering)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, features

from mme5.data.emoji import XTD_LANGUAGES, load_emoji, load_emoji_dir, load_pack, pack_emoji, packaged_dir
from mme5.types import InputError


def test_shipped_pack_is_complete_and_licensed():
    data = load_pack()
    assert len(data) == 1833 and len({r.id for r in data.records}) == 1833
    assert set(XTD_LANGUAGES) <= set(data.languages) and len(data.languages) == 92
    assert all(r.image.size == (56, 56) for r in data.records[:50])
    for lang in XTD_LANGUAGES:  # names are unique within a language (retrieval is well posed)
        names = [r.names[lang] for r in data.records if lang in r.names]
        assert len(names) == len(set(names)) >= 1700
    for name in ("LICENSE-Unicode-DFS-2016.txt", "LICENSE-font-OFL-1.1.txt", "README.md"):
        assert (packaged_dir() / name).is_file()
    size = sum(f.stat().st_size for f in packaged_dir().iterdir())
    assert size < 4_000_000


def test_pack_matches_the_source_data(emoji_dir):
    src, pack = load_emoji_dir(emoji_dir), load_pack()
    assert [r.id for r in src.records] == [r.id for r in pack.records]
    assert all(a.names == b.names for a, b in zip(src.records, pack.records))
    errors = []
    for i in range(0, len(src), 37):  # a palette-quantised downscale of the same picture
        with Image.open(src.records[i].image) as img:
            ref = np.asarray(img.convert("RGB").resize((56, 56), Image.Resampling.LANCZOS), dtype=float)
        errors.append(np.abs(ref - np.asarray(pack.records[i].image, dtype=float)).mean())
    assert max(errors) < 10 and np.mean(errors) < 4


def _write_folder(root, rows):
    (root / "images").mkdir(parents=True)
    colors = ["red", "green", "blue", "yellow"]
    for i, row in enumerate(rows):
        Image.new("RGB", (96, 96), colors[i % 4]).save(root / "images" / f"{row['id']}.png")
    (root / "emoji.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (root / "LICENSE-Unicode-DFS-2016.txt").write_text("notice")


def test_pack_round_trip_and_language_filter(tmp_path):
    rows = [{"id": f"e{i}", "emoji": "x", "kind": "emoji", "image": f"images/e{i}.png",
             "name": {"en": f"thing {i}", "de": f"Ding {i}", "fr": f"chose {i}"}} for i in range(5)]
    _write_folder(tmp_path / "src", rows)
    pack_emoji(tmp_path / "src", tmp_path / "pack", side=28, languages=["en", "de"], colors=0)
    data = load_emoji(tmp_path / "pack")
    assert [r.names for r in data.records] == [{"en": f"thing {i}", "de": f"Ding {i}"} for i in range(5)]
    assert data.records[2].image.getpixel((14, 14)) == (0, 0, 255)  # blue, exact without quantisation
    assert (tmp_path / "pack" / "LICENSE-Unicode-DFS-2016.txt").is_file()


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="emoji.jsonl"):
        load_emoji(tmp_path)
    _write_folder(tmp_path / "d", [{"id": "e0", "name": {"en": "a"}}])
    (tmp_path / "d" / "emoji.jsonl").write_text('{"id": "e0", "name": {"en": "a"}}\n{"id": "e1", "name": {"en": "b"}}\n')
    with pytest.raises(InputError, match=r"record 1 \(e1\).*not found"):
        load_emoji_dir(tmp_path / "d")
    (tmp_path / "d" / "emoji.jsonl").write_text('{"id": "e0"}\n')
    with pytest.raises(InputError, match="emoji.jsonl:1: missing field 'name'"):
        load_emoji_dir(tmp_path / "d")


CLDR_EN = """<?xml version="1.0" encoding="UTF-8" ?><ldml><annotations>
<annotation cp="☺">face | smile</annotation><annotation cp="☺" type="tts">smiling face</annotation>
<annotation cp="★" type="tts">black star</annotation>
<annotation cp="☂" type="tts">umbrella</annotation>
<annotation cp="☃" type="tts">snowman</annotation>
<annotation cp="☃☃" type="tts">two snowmen</annotation>
<annotation cp="{" type="tts">left brace</annotation>
<annotation cp="☎" type="tts" draft="provisional">telephone</annotation>
</annotations></ldml>"""
CLDR_DE = """<?xml version="1.0" encoding="UTF-8" ?><ldml><annotations>
<annotation cp="☺" type="tts">Gesicht</annotation><annotation cp="☂" type="tts">Gesicht</annotation>
<annotation cp="☃" type="tts">↑↑↑</annotation></annotations></ldml>"""


def test_builder_parses_filters_renders_and_dedupes(tmp_path):
    from mme5.data.emoji_build import build_emoji_dataset

    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not features.check("raqm") or not __import__("os").path.isfile(font):
        pytest.skip("needs Pillow with RAQM and the DejaVu font")
    cldr = tmp_path / "common"
    (cldr / "annotations").mkdir(parents=True)
    (cldr / "annotationsDerived").mkdir()
    (cldr / "annotations" / "en.xml").write_text(CLDR_EN, encoding="utf-8")
    (cldr / "annotations" / "de.xml").write_text(CLDR_DE, encoding="utf-8")
    (cldr / "annotations" / "de_CH.xml").write_text(CLDR_DE.replace("Gesicht", "Regional"), encoding="utf-8")
    emoji_chars = {"☺": "☺\ufe0f", "★": "★", "☂": "☂\ufe0f", "☃": "☃\ufe0f", "☃☃": "☃☃"}  # stand-in for the emoji package
    stats = build_emoji_dataset(tmp_path / "out", font, cldr, size=32, font_size=40,
                                qualifier=emoji_chars.get, xtd_count=0, min_coverage=0.5)
    rows = [json.loads(x) for x in (tmp_path / "out" / "emoji.jsonl").read_text(encoding="utf-8").splitlines()]
    # "{" is not an emoji; "☃☃" renders too wide (no ligature); the provisional telephone is skipped
    assert stats["rejected_not_ligated"] == ["☃☃"]
    assert [r["id"] for r in rows] == ["2602", "2603", "2605", "263a"]  # ordered by the emoji string
    assert rows[3]["emoji"] == "☺\ufe0f" and rows[3]["keywords"]["en"] == ["face", "smile"]
    # de names "Gesicht" twice -> dropped for both; "↑↑↑" is the inheritance marker, not a name
    assert all("de" not in r["name"] for r in rows)
    assert stats["languages"] == ["de", "en"]  # coverage counts CLDR names (de: 2 of 4) before that
    img = Image.open(tmp_path / "out" / "images" / "2605.png")
    assert img.size == (32, 32) and np.asarray(img).min() < 100  # the star left ink on white


def test_data_cli_pack_and_argument_errors(tmp_path, capsys):
    from mme5.cli.main import main

    rows = [{"id": f"e{i}", "name": {"en": f"thing {i}", "de": f"Ding {i}"}} for i in range(3)]
    _write_folder(tmp_path / "src", rows)
    assert main(["data", "pack-emoji", str(tmp_path / "src"), "--out", str(tmp_path / "p"), "--languages", "de"]) == 0
    assert [r.names for r in load_pack(tmp_path / "p").records] == [{"de": f"Ding {i}"} for i in range(3)]
    assert main(["data", "build-emoji", "--out", str(tmp_path / "x"), "--font", "f.ttf"]) == 2
    assert "--cldr" in capsys.readouterr().err
