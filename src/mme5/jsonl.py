"""Reading JSON-lines files (and item files: `mme5 embed --input`) with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .types import InputError, Item, parse_item


def iter_jsonl_objects(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Yield (`"file:line"`, object) for each non-blank line; anything but a JSON object is an error."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, row


def read_items_jsonl(path: str | Path) -> tuple[list[Item], list[str]]:
    """One item per non-empty line -> (items, "file:line" of each), through the one item parser.
    Relative media paths resolve against the file's folder; image files are checked here, before
    any model loads."""
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
