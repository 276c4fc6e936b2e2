"""Up-front image checks: a missing or corrupt image fails with dataset, row and path, or, when
asked, drops its example and is counted (never silently). A corrupt image that only an
`exists` check saw is met at batch time (see `collate`: replaced under skip, counted)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from ..types import ContrastiveExample, InputError, load_image
from .schema import example_images

log = logging.getLogger(__name__)

ImageCheck = Literal["none", "exists", "decode"]
OnBadImage = Literal["error", "skip"]


def _problem(path: str, check: ImageCheck) -> str | None:
    if check == "none":
        return None
    if not Path(path).is_file():
        return f"image file not found: {path}"
    if check == "decode":
        try:
            load_image(path)
        except InputError as exc:
            return str(exc)
    return None


def image_problem(
    example: ContrastiveExample, check: ImageCheck, seen: dict[str, str | None] | None = None
) -> str | None:
    """`<side>: <reason>` for the first image of `example` failing `check`, else None; `seen`
    caches results per path."""
    seen = {} if seen is None else seen
    for side, path in example_images(example):
        if path not in seen:
            seen[path] = _problem(path, check)
        if seen[path] is not None:
            return f"{side}: {seen[path]}"
    return None


def check_example_images(
    examples: Sequence[ContrastiveExample],
    wheres: Sequence[str],
    *,
    check: ImageCheck = "exists",
    on_bad: OnBadImage = "error",
) -> tuple[list[int], int, list[str]]:
    """-> (indices of usable examples, number skipped, the first few reasons).

    `check`: "exists" stats every path (cheap), "decode" also opens each image (catches corrupt
    files before training starts), "none" defers every problem to batch time.
    """
    kept, reasons = [], []
    seen: dict[str, str | None] = {}  # images shared by many rows are checked once
    for i, (example, where) in enumerate(zip(examples, wheres)):
        problem = image_problem(example, check, seen)
        bad = None if problem is None else f"{where} {problem}"
        if bad is None:
            kept.append(i)
        elif on_bad == "error":
            raise InputError(f"{bad} (set data.on_bad_image=skip to drop such examples and count them)")
        else:
            reasons.append(bad)
    skipped = len(examples) - len(kept)
    if skipped:
        log.warning(
            "skipped %d of %d examples with missing or unreadable images; first: %s", skipped, len(examples), reasons[0]
        )
    return kept, skipped, reasons[:5]
