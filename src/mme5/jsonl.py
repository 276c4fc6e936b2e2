"""Reading JSON-lines files with errors that name the file and line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .types import InputError


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
