"""The training schema of MMEB-train / mmE5-MMEB-hardneg / mmE5-synthetic -> `ContrastiveExample`.

Columns (`TRAINING_COLUMNS`): `qry`, `qry_image_path`, `pos_text`, `pos_image_path`, `neg_text`,
`neg_image_path`, and the optional `modality`. Every writer of training rows (the toy set,
synthesis) goes through `schema_row`. Any other column is metadata: files keep it, training never
reads it (synthesis's `instruction`, which the `qry` text already carries, and `language`, `task`,
scores and provenance). The hub stores negative lists as strings holding a Python-style list
(`"['a', 'b']"`) or a bare string; the original code ran them through Python's evaluator, which
executes whatever a row contains. Here they are parsed as data only.
"""

from __future__ import annotations

import ast
import builtins
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..types import ContrastiveExample, InputError, Item

T = TypeVar("T")
REQUIRED_COLUMNS = ("qry", "qry_image_path", "pos_text", "pos_image_path")
NEGATIVE_COLUMNS = ("neg_text", "neg_image_path")
TRAINING_COLUMNS = (*REQUIRED_COLUMNS, *NEGATIVE_COLUMNS, "modality")
"""The column contract of a training row; `modality` (e.g. "T2I") labels the row and is optional."""


def schema_row(
    query: str,
    query_image: str = "",
    positive: str = "",
    positive_image: str = "",
    negatives: Sequence[str] = (),
    negative_images: Sequence[str] = (),
    *,
    modality: str = "",
) -> dict[str, str]:
    """A training row in the column contract: texts in the hub format (`mme5.prompts.hub_text`),
    image paths ("" = none), negatives as JSON lists ("" = none), which every reader parses as data."""

    def as_list(values: Sequence[str]) -> str:
        return json.dumps(list(values), ensure_ascii=False) if values else ""

    return {
        "qry": query,
        "qry_image_path": query_image,
        "pos_text": positive,
        "pos_image_path": positive_image,
        "neg_text": as_list(negatives),
        "neg_image_path": as_list(negative_images),
        "modality": modality,
    }


def parse_string_list(value: Any, where: str) -> list[str]:
    """A negative field -> list of strings, accepting only data, never code.

    Accepted: a real list of strings (JSONL, parquet), a JSON list, a Python list literal of
    strings (what the hub stores), a Python string literal (`'a'`: one negative, unquoted) or a
    bare string (one negative). `None` or `""` -> `[]`.
    A string that opens with `[` but is not a list of plain strings, or a string that is code
    (see `_looks_like_code`), is an error naming `where`.
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if not text.startswith("["):  # a text that opens like a list must be one
            if _looks_like_code(text):
                raise InputError(
                    f"{where}: {text[:80]!r} looks like code, not a negative text; it is rejected "
                    "(write negatives as a JSON list of strings to pass any text)"
                )
            quoted = _quoted_string(text)
            return [value if quoted is None else quoted]  # a bare string is one negative
        items = _parse_list_literal(text, where)
    else:
        raise InputError(f"{where}: expected a string or a list of strings, got {type(value).__name__}")
    bad = [x for x in items if not isinstance(x, str)]
    if bad:
        raise InputError(f"{where}: negatives must be strings, found {type(bad[0]).__name__} {bad[0]!r}")
    return items


def _looks_like_code(text: str) -> bool:
    """True for strings the original would have executed as code: calls of builtins or of
    attributes, dunder names, lambdas. Ordinary text ("Paris (France)", "1/8/93") passes."""
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False  # not Python at all: plain text
    for node in ast.walk(tree):
        if isinstance(node, (ast.Lambda, ast.NamedExpr)):
            return True
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if name.startswith("__"):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) or (isinstance(func, ast.Name) and func.id in _BUILTINS):
                return True
    return False


_BUILTINS = frozenset(dir(builtins))


def _quoted_string(text: str) -> str | None:
    """The value of a Python string literal (`'goldfish'` -> `goldfish`, as the original's eval
    gives), else None. literal_eval builds constants only."""
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    return parsed if isinstance(parsed, str) else None


def _parse_list_literal(text: str, where: str) -> list:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        try:
            # literal_eval builds constants only: calls, names and attributes are rejected
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as exc:
            raise InputError(
                f"{where}: not a list of strings (JSON or Python literal): {text[:80]!r} ({type(exc).__name__})"
            ) from None
    if not isinstance(parsed, list):
        raise InputError(f"{where}: expected a list, got {type(parsed).__name__}: {text[:80]!r}")
    return parsed


def fit_negatives(negatives: list[T], ratio: int) -> list[T]:
    """Truncate to `ratio` or pad by repeating the last one (the original's rule); `[]` stays `[]`."""
    if ratio <= 0 or not negatives:
        return []
    if len(negatives) < ratio:
        negatives = negatives + [negatives[-1]] * (ratio - len(negatives))
    return negatives[:ratio]


def fill_empty_texts(chosen: list[str], all_texts: list[str], positive: str, rng: random.Random) -> list[str]:
    """Replace an empty negative text as the original does: by a random non-empty negative of the
    row, or by the positive text when all of the row's negatives are identical."""
    out = []
    for text in chosen:
        if text == "":
            if len(set(all_texts)) == 1:
                text = positive
            else:
                text = rng.choice([t for t in all_texts if t != ""])
        out.append(text)
    return out


def string_column(value: Any, where: str, column: str) -> str:
    """A row's string column, None read as empty; anything else is an InputError naming the column."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: {column} must be a string, got {type(value).__name__}")
    return value


def resolve_image(path: Any, image_root: Path | None, where: str) -> str | None:
    """An image path column -> absolute path string, or None when the side has no image."""
    if path is None or path == "":
        return None
    if not isinstance(path, str):
        raise InputError(f"{where}: image path must be a string, got {type(path).__name__}")
    p = Path(path)
    if not p.is_absolute() and image_root is not None:
        p = image_root / p
    return str(p)


def row_to_example(
    row: Mapping[str, Any],
    *,
    where: str,
    source: str,
    image_root: Path | None,
    negative_ratio: int,
    seed: int = 0,
) -> ContrastiveExample:
    """One schema row -> ContrastiveExample; every error names `where` (dataset and row)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in row]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; the training schema needs {list(REQUIRED_COLUMNS)}")
    for col in ("qry", "pos_text"):
        if row[col] is not None and not isinstance(row[col], str):
            raise InputError(f"{where}: column {col!r} must be a string, got {type(row[col]).__name__}")
    query_image = resolve_image(row["qry_image_path"], image_root, f"{where} qry_image_path")
    # optional `qry_video_path` / `pos_video_path`: a frame folder or video file (mme5.media)
    query = Item(
        text=row["qry"] or "",
        image=query_image,
        video=resolve_image(row.get("qry_video_path"), image_root, f"{where} qry_video_path"),
    )
    pos_text = row["pos_text"] or ""
    positive = Item(
        text=pos_text,
        image=resolve_image(row["pos_image_path"], image_root, f"{where} pos_image_path"),
        video=resolve_image(row.get("pos_video_path"), image_root, f"{where} pos_video_path"),
    )
    for side, item in (("query", query), ("positive", positive)):
        if not item.text and not item.has_image and not item.has_video:
            raise InputError(f"{where}: the {side} has neither text nor image (nor video)")
    negatives: tuple[Item, ...] = ()
    if negative_ratio > 0:
        all_texts = parse_string_list(row.get("neg_text"), f"{where} neg_text")
        all_images = parse_string_list(row.get("neg_image_path"), f"{where} neg_image_path")
        texts, images = fit_negatives(all_texts, negative_ratio), fit_negatives(all_images, negative_ratio)
        n = max(len(texts), len(images))
        texts = texts + [""] * (n - len(texts))  # a side without a list has no text / no image
        images = images + [""] * (n - len(images))
        if all_texts:
            texts = fill_empty_texts(texts, all_texts, pos_text, random.Random(f"{seed}:{where}"))
        negatives = tuple(
            Item(text=t, image=resolve_image(p, image_root, f"{where} neg_image_path[{i}]"))
            for i, (t, p) in enumerate(zip(texts, images))
            if t or p
        )
        kept = [i for i, (t, p) in enumerate(zip(texts, images)) if t or p]
        teacher = _teacher_scores(row.get("teacher_scores"), max(len(all_texts), len(all_images)), where)
        if teacher:  # aligned with the negatives as they were truncated, padded and kept
            neg_scores = fit_negatives(teacher[1:], negative_ratio)
            teacher = [teacher[0], *(neg_scores[i] for i in kept)]
        return ContrastiveExample(query, positive, negatives, source, tuple(teacher))
    return ContrastiveExample(query=query, positive=positive, hard_negatives=negatives, source=source)


def _teacher_scores(value: Any, negatives: int, where: str) -> list[float]:
    """The optional `teacher_scores` column: a list (or JSON list) of 1 + one per negative numbers."""
    if value is None or value == "":
        return []
    scores = json.loads(value) if isinstance(value, str) else value
    if (
        not isinstance(scores, list)
        or len(scores) != 1 + negatives
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in scores)
    ):
        raise InputError(
            f"{where}: teacher_scores must be a list of {1 + negatives} numbers (positive, then each negative)"
        )
    return [float(x) for x in scores]


def example_images(example: ContrastiveExample) -> list[tuple[str, str]]:
    """(side, path) of every image an example refers to, for up-front checks."""
    sides = [("query", example.query), ("positive", example.positive)]
    sides += [(f"hard_negatives[{i}]", n) for i, n in enumerate(example.hard_negatives)]
    return [(side, str(item.image)) for side, item in sides if item.has_image and isinstance(item.image, (str, Path))]


def positive_key(example: ContrastiveExample) -> tuple[str, str]:
    """Identity of a positive: two examples with equal keys in one batch are false negatives."""
    p = example.positive
    return (p.text or "", str(p.image) if p.has_image else "")
