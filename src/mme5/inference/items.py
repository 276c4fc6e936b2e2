"""Reading items (the one input record) from a JSONL file, checked before any model loads."""
from __future__ import annotations

from pathlib import Path

from ..jsonl import iter_jsonl_objects
from ..types import InputError, Item, parse_item


def read_items_jsonl(path: str | Path) -> tuple[list[Item], list[str]]:
    """One item per non-empty line -> (items, "file:line" of each); errors name the file and line.
    Relative image paths resolve against the file's folder; image files are checked here."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    items, wheres = [], []
    for where, row in iter_jsonl_objects(path):
        item = parse_item(row, where, path.parent)
        if isinstance(item.image, str) and not Path(item.image).is_file():
            raise InputError(f"{where}: image file not found: {item.image}")
        items.append(item)
        wheres.append(where)
    if not items:
        raise InputError(f"{path}: no items (the file is empty)")
    return items, wheres
