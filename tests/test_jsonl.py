"""JSON-lines reading: item files go through the one item parser, errors name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mme5.jsonl import iter_jsonl_objects, read_items_jsonl
from mme5.types import InputError, Item


def test_embed_jsonl_uses_the_parser(tmp_path: Path):
    (tmp_path / "cat.png").write_bytes(b"")  # existence is all read_items_jsonl checks
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"image": "cat.png"}) + "\n\n" + json.dumps({"text": "hi"}) + "\n")
    items, wheres = read_items_jsonl(path)
    assert items == [Item(image=str(tmp_path / "cat.png")), Item(text="hi")]
    assert wheres == [f"{path}:1", f"{path}:3"]
    path.write_text(json.dumps({"text": "ok"}) + "\n" + json.dumps({"text": " "}) + "\n")
    with pytest.raises(InputError, match=rf"{path}:2 is empty: give at least one of"):
        read_items_jsonl(path)


@pytest.mark.parametrize("line, message", [("{oops", "invalid JSON"), ("[1]", "expected a JSON object, got list")])
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n' + line + "\n")
    with pytest.raises(InputError, match=rf"rows\.jsonl:2: {message}"):
        list(iter_jsonl_objects(path))


def test_missing_and_empty_item_files(tmp_path: Path):
    with pytest.raises(InputError, match="input file not found"):
        read_items_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match="no items"):
        read_items_jsonl(tmp_path / "empty.jsonl")
    (tmp_path / "missing.jsonl").write_text(json.dumps({"image": "gone.png"}) + "\n")
    with pytest.raises(InputError, match=r"missing\.jsonl:1: image file not found: .*gone\.png"):
        read_items_jsonl(tmp_path / "missing.jsonl")
