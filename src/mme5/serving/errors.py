"""The exception the server turns into an OpenAI-shaped error, and readable validation messages."""

from __future__ import annotations

from typing import Any


class RequestError(Exception):
    """A request the server refuses: HTTP status, a message naming the offending input, and
    optional headers (Retry-After on 429/503)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    @property
    def type(self) -> str:
        """OpenAI's error `type`: client mistakes vs server-side conditions."""
        if self.status in (401, 403):
            return "authentication_error" if self.status == 401 else "permission_error"
        if self.status == 404:
            return "not_found_error"
        if self.status == 429:
            return "rate_limit_error"
        return "invalid_request_error" if self.status < 500 else "server_error"


def validation_message(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """Pydantic errors -> one readable line naming the input (`input[2].text: ...`).

    A union (string | item | list) fails once per branch; only the most specific location is
    reported, and a plain type mismatch in every branch becomes one "must be ..." sentence.
    """
    entries = []
    for err in errors:
        loc = tuple(p for p in err.get("loc", ()) if p != "body" and not _union_tag(p))
        entries.append((loc, err))
    locs = {loc for loc, _ in entries}
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for loc, err in entries:
        if not any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs):  # a deeper error explains it
            grouped.setdefault(loc, []).append(err)
    parts = []
    for loc, errs in grouped.items():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        if errs[0].get("type") == "json_invalid":
            parts.append(f"the request body is not valid JSON (error near character {loc[-1] if loc else 0})")
        elif not path:
            parts.append("the request body must be a JSON object")
        elif len(errs) > 1 and all(str(e.get("type", "")).endswith("_type") for e in errs):
            parts.append(
                f"{path} must be a string or an item object {{text, image, video, pdf, page, instruction, language}}"
                + (", or a list of them" if path in ("input",) else "")
            )
        else:
            inside_item = len(loc) > 1 and errs[0].get("type") == "extra_forbidden"
            hint = " (allowed item fields: text, image, video, pdf, page, instruction, language)" if inside_item else ""
            parts.append(f"{path}: {errs[0].get('msg', 'invalid')}{hint}")
    first = next(iter(grouped), ())
    json_error = any(e.get("type") == "json_invalid" for e in errors)
    param = (
        None if json_error else "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first).lstrip(".") or None
    )
    return "invalid request: " + "; ".join(parts[:5]) + ("; ..." if len(parts) > 5 else ""), param


def _union_tag(part: Any) -> bool:
    """Pydantic names union branches in error locations ('str', 'ItemIn', 'list[...]')."""
    return isinstance(part, str) and (part in ("str", "ItemIn") or "[" in part)
