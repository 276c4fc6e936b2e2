"""Reading items (the one input record) from JSONL and command-line arguments."""
from __future__ import annotations

from pathlib import Path

from ..jsonl import iter_jsonl_objects
from ..types import InputError, Item

FIELDS = {"text", "image", "instruction", "language"}


def item_from_dict(row: dict, where: str, base_dir: Path | None = None) -> Item:
    """A JSONL row -> Item; a relative `image` path is resolved against `base_dir`."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    unknown = set(row) - FIELDS
    if unknown:
        raise InputError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(FIELDS)}")
    for key in FIELDS & set(row):
        if row[key] is not None and not isinstance(row[key], str):
            raise InputError(f"{where}: field {key!r} must be a string")
    image = row.get("image") or None
    if image is not None and base_dir is not None and not Path(image).is_absolute():
        image = str(base_dir / image)
    item = Item(text=row.get("text"), image=image, instruction=row.get("instruction"), language=row.get("language"))
    if not (item.text or "").strip() and not item.has_image and not (item.instruction or "").strip():
        raise InputError(f"{where}: needs at least one of text, image or instruction")
    return item


def read_items_jsonl(path: str | Path) -> tuple[list[Item], list[str]]:
    """One item per non-empty line -> (items, "file:line" of each); errors name the file and line.
    Image files are checked here, before any model loads."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    items, wheres = [], []
    for where, row in iter_jsonl_objects(path):
        item = item_from_dict(row, where, path.parent)
        if isinstance(item.image, str) and not Path(item.image).is_file():
            raise InputError(f"{where}: image file not found: {item.image}")
        items.append(item)
        wheres.append(where)
    if not items:
        raise InputError(f"{path}: no items (the file is empty)")
    return items, wheres
