"""Wire inputs -> `Item`s, safely: every image is size-checked from its header (alone and summed
over the request) before any is decoded, so the model never sees an unchecked byte, and every
refusal names the input (`input[3].image`)."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from ..types import InputError, Item, MissingFileError, parse_item
from .errors import RequestError
from .media_inputs import media_pending
from .schemas import ItemIn
from .settings import ServerSettings


@dataclass(frozen=True)
class InputPolicy:
    """The input half of `ServerSettings`, with the image root resolved once at start-up."""

    max_items: int
    max_image_pixels: int
    max_request_pixels: int
    max_image_bytes: int
    max_text_chars: int
    image_root: Path | None
    allow_remote_images: bool
    remote_timeout_s: float

    @classmethod
    def from_settings(cls, s: ServerSettings) -> InputPolicy:
        root = None
        if s.image_root is not None:
            root = Path(s.image_root).resolve()
            if not root.is_dir():
                raise MissingFileError(f"--image-root {s.image_root} is not a folder")
        return cls(
            s.max_items,
            s.max_image_pixels,
            s.max_request_pixels,
            s.max_request_bytes,
            s.max_text_chars,
            root,
            s.allow_remote_images,
            s.remote_timeout_s,
        )


def to_items(elements: list[str | ItemIn], policy: InputPolicy, name: str = "input") -> list[Item]:
    """Validate a request's inputs; `name` prefixes error locations (`input[2].text`)."""
    if not elements:
        raise RequestError(400, f"{name} is empty: send a string, an item object or a non-empty list", param=name)
    if len(elements) > policy.max_items:
        raise RequestError(
            400,
            f"{name} has {len(elements)} items; this server accepts at most {policy.max_items} per request",
            param=name,
            code="too_many_items",
        )
    return _checked([(e, f"{name}[{i}]") for i, e in enumerate(elements)], policy, name)


def to_item(element: str | ItemIn, policy: InputPolicy, where: str) -> Item:
    """One string or item object -> Item with its image decoded into a checked RGB PIL image."""
    return _checked([(element, where)], policy, where)[0]


def _checked(elements: list[tuple[str | ItemIn, str]], policy: InputPolicy, name: str) -> list[Item]:
    """Check every text and image header, then the request's total pixels, and only then decode:
    a refused request costs no decoded image."""
    opened = [(where, *_open(element, policy, where)) for element, where in elements]
    media = [media_pending(item, policy, where) for where, item, _ in opened]  # videos and PDFs: headers only
    pixels = sum(img.width * img.height for _, _, img in opened if img is not None) + sum(m.pixels for m in media if m)
    if pixels > policy.max_request_pixels:
        raise RequestError(
            413,
            f"{name}: the images total {pixels} pixels; the limit per request is "
            f"{policy.max_request_pixels} (video frames and PDF pages count)",
            param=name,
            code="too_many_pixels",
        )
    rows = sum(m.rows if m else 1 for m in media)
    if rows > policy.max_items:
        raise RequestError(
            400,
            f"{name}: {rows} vectors (each PDF page is one); this server accepts at most "
            f"{policy.max_items} per request",
            param=name,
            code="too_many_items",
        )
    items = [
        replace(item, image=None if img is None else _decode(img, f"{where}.image")) for where, item, img in opened
    ]
    return [m.finish(item) if m else item for item, m in zip(items, media)]


def _open(element: str | ItemIn, policy: InputPolicy, where: str) -> tuple[Item, Image.Image | None]:
    """Check one input's texts; open its image lazily (header only, size checked)."""
    if isinstance(element, str):
        element = ItemIn(text=element)
    for field in ("text", "instruction"):
        value = getattr(element, field)
        if value is not None and len(value) > policy.max_text_chars:
            raise RequestError(
                400,
                f"{where}.{field} has {len(value)} characters; the limit is {policy.max_text_chars}",
                param=f"{where}.{field}",
                code="text_too_long",
            )
    try:  # the one item parser: the same rules and messages as `mme5 embed` and `Embedder.encode`
        item = parse_item(element.model_dump(exclude_none=True), where)
    except InputError as exc:
        raise RequestError(400, str(exc), param=where) from None
    return item, _image(element.image, policy, f"{where}.image") if element.image else None


def _image(source: str, policy: InputPolicy, where: str) -> Image.Image:
    if source.startswith("data:"):
        return open_image(_decode_data_url(source, where), policy, where)
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
        return open_image(_fetch(source, policy, where), policy, where)
    if scheme:
        raise RequestError(400, f"{where}: unsupported image URL scheme {scheme!r}; use a data URL", param=where)
    return open_image(_read_local(source, policy, where), policy, where)


def _decode_data_url(url: str, where: str, expect: str = "image/") -> bytes:
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


def _read_local(source: str, policy: InputPolicy, where: str) -> bytes:
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
        if resolved.stat().st_size > policy.max_image_bytes:
            raise RequestError(
                413, f"{where}: image file {source!r} exceeds {policy.max_image_bytes} bytes", param=where
            )
        return resolved.read_bytes()
    except (ValueError, OSError) as exc:  # a NUL byte, a name too long, an unreadable file
        reason = getattr(exc, "strerror", None) or exc  # strerror: without the server's absolute path
        raise RequestError(
            400, f"{where}: image path {source!r} is not a readable file ({reason})", param=where
        ) from None


def _fetch(url: str, policy: InputPolicy, where: str) -> bytes:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=policy.remote_timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise RequestError(400, f"{where}: fetching {url} returned HTTP {response.status_code}", param=where)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > policy.max_image_bytes:
                    raise RequestError(
                        413, f"{where}: {url} is larger than {policy.max_image_bytes} bytes", param=where
                    )
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise RequestError(400, f"{where}: cannot fetch {url}: {exc}", param=where) from None
    return b"".join(chunks)


def open_image(data: bytes, policy: InputPolicy, where: str) -> Image.Image:
    """Bytes -> a lazily opened image (header read, pixels not yet decoded) within the pixel limit."""
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:
        raise RequestError(
            413,
            f"{where}: image has too many pixels (limit {policy.max_image_pixels})",
            param=where,
            code="image_too_large",
        ) from None
    except Exception as exc:  # PIL raises several types for non-image bytes
        raise RequestError(
            400, f"{where}: not a readable image ({type(exc).__name__}: {exc})", param=where, code="invalid_image"
        ) from None
    width, height = img.size
    if width * height > policy.max_image_pixels:
        raise RequestError(
            413,
            f"{where}: image is {width}x{height} = {width * height} pixels; the limit is {policy.max_image_pixels}",
            param=where,
            code="image_too_large",
        )
    return img


def _decode(img: Image.Image, where: str) -> Image.Image:
    """Decode at full size, unchanged: the processor resizes exactly as for `Embedder.encode`."""
    try:
        img.load()
        return img.convert("RGB")
    except Exception as exc:
        raise RequestError(
            400, f"{where}: corrupt image data ({type(exc).__name__}: {exc})", param=where, code="invalid_image"
        ) from None
