"""Where request media come from, and the server's input policy: data URLs, http(s) URLs (when
allowed) and paths under the image root, read within the byte limit, and images opened header-first
within the pixel limit. Media refusals keep the one message of mme5.media_policy: a LimitError is
answered 413, any other InputError 400, both naming the field (`input[0].video`)."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..media_policy import LimitError, MediaPolicy, check_bytes, check_pixels
from ..types import InputError, MissingFileError
from .errors import RequestError
from .settings import ServerSettings


@dataclass(frozen=True)
class InputPolicy:
    """The input half of `ServerSettings` (its media limits are the one MediaPolicy), with the image
    root resolved once at start-up."""

    media: MediaPolicy
    """Limits on each image, video and PDF (bytes, pixels per frame, frames, pages, time)."""
    max_items: int
    max_request_pixels: int
    max_text_chars: int
    image_root: Path | None
    allow_remote_images: bool
    remote_timeout_s: float
    sample_videos: bool = True
    """Sample a video to mme5's 8 frames here (mme5.media); False: the model's profile reads the video
    itself (qwen3-vl-embedding: a file at fps 1, up to 64 frames), within the same media limits."""

    @classmethod
    def from_settings(cls, s: ServerSettings) -> InputPolicy:
        root = None
        if s.image_root is not None:
            root = Path(s.image_root).resolve()
            if not root.is_dir():
                raise MissingFileError(f"--image-root {s.image_root} is not a folder")
        return cls(
            s.media,
            s.max_items,
            s.max_request_pixels,
            s.max_text_chars,
            root,
            s.allow_remote_images,
            s.remote_timeout_s,
        )


def limit_refusal(exc: LimitError, where: str | None) -> RequestError:
    """A media limit refusal as HTTP 413 (`image_too_large` for the pixel limit, else `media_too_large`)."""
    code = "image_too_large" if exc.limit == "max_image_pixels" else "media_too_large"
    return RequestError(413, str(exc), param=where, code=code)


def media_refusal(exc: InputError, where: str | None, code: str) -> RequestError:
    """Any media InputError as an HTTP error naming the field: 413 for a limit, else 400 with `code`."""
    if isinstance(exc, LimitError):
        return limit_refusal(exc, where)
    return RequestError(400, str(exc), param=where, code=code)


def image_source(source: str, policy: InputPolicy, where: str) -> Image.Image:
    """An image from a data URL, an http(s) URL (if allowed) or a path under the image root; header checked."""
    if source.startswith("data:"):
        return open_image(decode_data_url(source, where), policy, where)
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in ("http", "https"):
        if not policy.allow_remote_images:
            raise RequestError(
                400,
                f"{where}: remote image URLs are disabled on this server; send the image as a "
                "data URL (data:image/png;base64,...) or start it with --allow-remote-images",
                param=where,
                code="remote_images_disabled",
            )
        return open_image(fetch(source, policy, where), policy, where)
    if scheme:
        raise RequestError(400, f"{where}: unsupported image URL scheme {scheme!r}; use a data URL", param=where)
    return open_image(read_local(source, policy, where), policy, where)


def read_bytes(source: str, where: str, policy: InputPolicy, expect: str) -> bytes:
    """A video or PDF file's bytes from a data URL of media type `expect`, an http(s) URL (if the
    server fetches URLs) or a path under the image root, with the image byte limit."""
    if source.startswith("data:"):
        return decode_data_url(source, where, expect)
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in ("http", "https") and policy.allow_remote_images:
        return fetch(source, policy, where)
    if scheme:
        raise RequestError(
            400,
            f"{where}: send the file as a data URL (data:{expect}...;base64,...) or a path under the image root",
            param=where,
        )
    return read_local(source, policy, where)


def decode_data_url(url: str, where: str, expect: str = "image/") -> bytes:
    """The bytes of a base64 data URL whose media type starts with `expect` (image/, video/, application/pdf)."""
    header, comma, payload = url.partition(",")
    example = {"image/": "image/png", "video/": "video/mp4"}.get(expect, expect)
    if not comma or not header.endswith(";base64"):
        raise RequestError(400, f"{where}: a data URL must look like data:{example};base64,<base64 bytes>", param=where)
    mime = header[len("data:") :].split(";", 1)[0]
    if mime and not mime.startswith(expect):
        raise RequestError(
            400,
            f"{where}: data URL has media type {mime!r}, expected {expect.rstrip('/')}"
            f"{'/*' if expect.endswith('/') else ''}",
            param=where,
        )
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(
            400, f"{where}: invalid base64 in data URL ({exc})", param=where, code="invalid_base64"
        ) from None


def read_local(source: str, policy: InputPolicy, where: str) -> bytes:
    root = policy.image_root
    if root is None:
        raise RequestError(
            400,
            f"{where}: local image paths are disabled on this server; send the image as a data URL "
            "(data:image/png;base64,...) or start it with --image-root DIR",
            param=where,
            code="local_paths_disabled",
        )
    # Resolve symlinks and `..` first, then check containment: a link inside the root that points
    # outside it is refused like a plain `../` path; existence is only checked inside the root.
    try:
        resolved = (root / source).resolve()
        if not resolved.is_relative_to(root):
            raise RequestError(
                403, f"{where}: image path {source!r} is outside the image root", param=where, code="path_outside_root"
            )
        if not resolved.is_file():
            raise RequestError(400, f"{where}: image {source!r} not found under the image root", param=where)
        if resolved.stat().st_size > policy.media.max_bytes:
            raise RequestError(
                413,
                f"{where}: file {source!r} has {resolved.stat().st_size} bytes; the limit is "
                f"{policy.media.max_bytes} (max_bytes)",
                param=where,
                code="media_too_large",
            )
        return resolved.read_bytes()
    except (ValueError, OSError) as exc:  # a NUL byte, a name too long, an unreadable file
        reason = getattr(exc, "strerror", None) or exc  # strerror: without the server's absolute path
        raise RequestError(
            400, f"{where}: image path {source!r} is not a readable file ({reason})", param=where
        ) from None


def fetch(url: str, policy: InputPolicy, where: str) -> bytes:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=policy.remote_timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise RequestError(400, f"{where}: fetching {url} returned HTTP {response.status_code}", param=where)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > policy.media.max_bytes:
                    raise RequestError(
                        413, f"{where}: {url} is larger than {policy.media.max_bytes} bytes", param=where
                    )
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise RequestError(400, f"{where}: cannot fetch {url}: {exc}", param=where) from None
    return b"".join(chunks)


def open_image(data: bytes, policy: InputPolicy, where: str) -> Image.Image:
    """Bytes -> a lazily opened image (header read, pixels not yet decoded) within the byte and pixel limits."""
    try:
        check_bytes(len(data), where, policy.media, "image")
        img = Image.open(io.BytesIO(data))  # reads the header only
    except LimitError as exc:
        raise limit_refusal(exc, where) from None
    except Image.DecompressionBombError:
        raise RequestError(
            413,
            f"{where}: image has too many pixels (limit {policy.media.max_image_pixels})",
            param=where,
            code="image_too_large",
        ) from None
    except Exception as exc:  # PIL raises several types for non-image bytes
        raise RequestError(
            400, f"{where}: not a readable image ({type(exc).__name__}: {exc})", param=where, code="invalid_image"
        ) from None
    try:
        check_pixels(img.width, img.height, where, policy.media)
    except LimitError as exc:
        raise limit_refusal(exc, where) from None
    return img
