"""One media policy: every limit on what reading an image, a video or a PDF may cost, in one frozen
record that `mme5 embed`, `mme5 index build`, evaluation and the server all enforce (mme5.media and
mme5.pdf_pages check it; the server maps a refusal to HTTP 413 naming the field).

Limits are checked where the cost arises, not only from headers: each *decoded* video frame is
measured before it is converted to RGB (a container header may lie), a PDF page's area in points is
checked before it is rendered, and decoding stops once its time or pixel budget is spent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from typing import Any

from .config import ConfigError
from .errors import InputError

MB = 2**20


@dataclass(frozen=True)
class MediaPolicy:
    """The limits one input may use (defaults are safe for a public server and the same everywhere)."""

    max_bytes: int = 64 * MB
    """Bytes of one media file (an image, a video file, a PDF)."""
    max_image_pixels: int = 4096 * 4096
    """Pixels of one decoded image, video frame or rendered PDF page (checked on every decoded frame)."""
    max_frames: int = 10_000
    """Frames of one video (its packets are counted, the header's frame count is not trusted)."""
    max_decoded_pixels: int = 2**32
    """Pixels decoded for one video: every frame the decoder produces counts, kept or not (bounds the work)."""
    max_pages: int = 10_000
    """Pages of one PDF."""
    max_page_area: float = 2048.0 * 2048.0
    """Area of one PDF page in square points (1/72 in), checked before rendering; at the render
    resolution of 144 dpi this is the same 4096 x 4096 as max_image_pixels."""
    max_decode_seconds: float = 4.0
    """Wall-clock seconds decoding one video may take before it is refused."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ConfigError(f"MediaPolicy.{f.name} must be > 0, got {getattr(self, f.name)}")

    def budget(self, where: str) -> DecodeBudget:
        """A fresh time + decoded-pixel budget for reading one input."""
        return DecodeBudget(self, where)


DEFAULT_POLICY = MediaPolicy()


class LimitError(InputError):
    """An input exceeds a media limit; `limit` names the MediaPolicy field (the server answers 413)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


def prefix(where: str) -> str:
    return f"{where}: " if where else ""


def refuse(where: str, message: str, limit: str, policy: MediaPolicy) -> LimitError:
    """The one-line refusal every surface shows: `<where>: <message>; the limit is <n> (<field>)`."""
    bound = getattr(policy, limit)
    shown = int(bound) if float(bound).is_integer() else bound
    return LimitError(f"{prefix(where)}{message}; the limit is {shown} ({limit})", limit)


def check_bytes(size: int, where: str, policy: MediaPolicy, what: str = "file") -> None:
    if size > policy.max_bytes:
        raise refuse(where, f"the {what} has {size} bytes", "max_bytes", policy)


def check_pixels(width: int, height: int, where: str, policy: MediaPolicy, what: str = "image") -> None:
    """One image, frame or page against max_image_pixels (before it is decoded or converted)."""
    if width * height > policy.max_image_pixels:
        raise LimitError(
            f"{prefix(where)}{what} is {width}x{height} = {width * height} pixels; "
            f"the limit is {policy.max_image_pixels} (max_image_pixels)",
            "max_image_pixels",
        )


class DecodeBudget:
    """Time and decoded pixels spent on one input; `spend` raises LimitError once either runs out."""

    def __init__(self, policy: MediaPolicy, where: str) -> None:
        self.policy, self.where = policy, where
        self.started = time.monotonic()
        self.pixels = 0

    def tick(self) -> None:
        """Check the clock only (demuxing, page checks)."""
        elapsed = time.monotonic() - self.started
        if elapsed > self.policy.max_decode_seconds:
            raise refuse(self.where, f"decoding took {elapsed:.1f} s", "max_decode_seconds", self.policy)

    def spend(self, width: int, height: int, what: str = "frame") -> None:
        """Count one decoded frame: its own size, the running pixel total, and the clock."""
        check_pixels(width, height, self.where, self.policy, what)
        self.pixels += width * height
        if self.pixels > self.policy.max_decoded_pixels:
            raise refuse(
                self.where, f"decoding needs more than {self.pixels} pixels", "max_decoded_pixels", self.policy
            )
        self.tick()


def parse_limits(pairs: list[str], base: MediaPolicy = DEFAULT_POLICY) -> MediaPolicy:
    """`["max_frames=500", "max_decode_seconds=2"]` (the CLI's --media-limit) -> a policy."""
    names = {f.name: f for f in fields(MediaPolicy)}
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name.strip() not in names:
            raise ConfigError(f"--media-limit {pair!r}: expected NAME=VALUE with NAME one of {', '.join(names)}")
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"--media-limit {pair!r}: {raw!r} is not a number") from None
        if isinstance(getattr(base, name.strip()), int) and not number.is_integer():
            raise ConfigError(f"--media-limit {pair!r}: {name.strip()} takes a whole number")
        values[name.strip()] = int(number) if isinstance(getattr(base, name.strip()), int) else number
    return replace(base, **values)  # a value <= 0 is a ConfigError naming the field
