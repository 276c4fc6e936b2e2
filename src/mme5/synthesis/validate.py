"""Turn a backend's reply into a kept sample or a rejection with a reason.

Order: parse (with the few repairs that cannot change meaning) -> schema (pydantic) ->
content checks (non-empty texts, negative != positive, English instruction, texts in the
requested language) -> near-duplicate check. Reasons are `code: detail`; stats count codes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from .langcheck import LanguageChecker
from .plan import MODALITIES
from .schema import output_model

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class Rejection(Exception):
    """A reply that cannot be kept; `code` is the stats key, the message says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass
class Parsed:
    reply: Any  # an instance of output_model(modality), a model built at run time
    repairs: list[str] = field(default_factory=list)


def parse_reply(text: str, modality: str) -> Parsed:
    """Reply text -> validated pydantic object, repairing only markdown fences, prose around
    the object and trailing commas; anything else is rejected (never guessed at)."""
    if not text or not text.strip():
        raise Rejection("empty_reply")
    repairs: list[str] = []
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
        repairs.append("markdown_fence")
    data = _loads(candidate)
    if data is None:
        start, end = candidate.find("{"), candidate.rfind("}")
        if start > 0 or (0 <= end < len(candidate) - 1):
            candidate = candidate[start : end + 1] if 0 <= start < end else candidate
            repairs.append("surrounding_text")
            data = _loads(candidate)
    if data is None:
        fixed = _TRAILING_COMMA.sub(r"\1", candidate)
        if fixed != candidate:
            repairs.append("trailing_comma")
            data = _loads(fixed)
    if data is None:
        raise Rejection("invalid_json", _json_error(candidate))
    if not isinstance(data, dict):
        raise Rejection("invalid_json", f"expected an object, got {type(data).__name__}")
    try:
        reply = output_model(modality).model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Rejection("schema", f"{where}: {first['msg']} ({exc.error_count()} error(s))") from None
    return Parsed(reply, repairs)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "not a JSON object"


def normalise(text: str) -> str:
    """Case, width, punctuation and spacing folded away: the near-duplicate key of a text."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = [c if c.isalnum() else " " for c in text]
    return " ".join("".join(kept).split())


def check_content(revised: BaseModel, modality: str, language: str, checker: LanguageChecker | None) -> None:
    """Raise a Rejection if the revised sample breaks a content rule."""
    texts = revised.model_dump()
    for name, value in texts.items():
        if not normalise(value):
            raise Rejection("empty_text", name)
    m = MODALITIES[modality]
    if m.target_text and normalise(texts["negative_text"]) == normalise(texts["positive_text"]):
        raise Rejection("negative_equals_positive", repr(texts["positive_text"][:80]))
    if checker is None:
        return
    verdict = checker.check(texts["instruction"], "en")
    if not verdict.ok:
        raise Rejection("instruction_not_english", f"detected {verdict.detected}")
    in_language = " \n".join(v for k, v in texts.items() if k != "instruction")
    if in_language:
        verdict = checker.check(in_language, language)
        if not verdict.ok:
            raise Rejection("wrong_language", f"requested {language}, detected {verdict.detected}")


def duplicate_key(revised: BaseModel, images: dict[str, str]) -> str:
    """Two samples with the same images and the same normalised texts are near-duplicates."""
    texts = revised.model_dump()
    parts = [normalise(texts[k]) for k in sorted(texts)] + [f"{k}={images[k]}" for k in sorted(images)]
    return "\x1f".join(parts)


def text_key(revised: BaseModel, images: dict[str, str]) -> str | None:
    """Two samples with the same query (normalised text + query image, if any) and the same
    normalised positive text are near-duplicates whatever their target images or negatives (a
    training pair twice). The query image is part of the query: the same question about two
    posters is two samples. None for combinations without both texts."""
    texts = revised.model_dump()
    if "query_text" not in texts or "positive_text" not in texts:
        return None
    return "\x1f".join(
        ["texts", images.get("query_image", ""), normalise(texts["query_text"]), normalise(texts["positive_text"])]
    )
