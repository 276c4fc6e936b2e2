"""Wire inputs -> `Item`s, safely: every image is size-checked from its header (alone and summed
over the request) before any is decoded, so the model never sees an unchecked byte, and every
refusal names the input (`input[3].image`)."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from ..types import InputError, Item, parse_item
from .errors import RequestError
from .media_inputs import media_pending
from .schemas import ItemIn
from .sources import InputPolicy, image_source

__all__ = ["InputPolicy", "to_item", "to_items"]


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
    # Decoding within the media policy gives the true sizes (a video header may lie): the request's
    # pixels are counted again as each video is decoded, and a request over the limit stops there.
    decoded = sum(img.width * img.height for _, _, img in opened if img is not None)
    out = []
    for (where, _, _), item, m in zip(opened, items, media):
        if m is not None:
            item = m.finish(item)
            decoded += m.pixels if not isinstance(item.video, tuple) else sum(_area(f) for f in item.video)
            if decoded > policy.max_request_pixels:
                raise RequestError(
                    413,
                    f"{name}: the decoded images total more than {policy.max_request_pixels} pixels (reached at "
                    f"{where}); the limit is per request (max_request_pixels)",
                    param=name,
                    code="too_many_pixels",
                )
        out.append(item)
    return out


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
    return item, image_source(element.image, policy, f"{where}.image") if element.image else None


def _decode(img: Image.Image, where: str) -> Image.Image:
    """Decode at full size, unchanged: the processor resizes exactly as for `Embedder.encode`."""
    try:
        img.load()
        return img.convert("RGB")
    except Exception as exc:
        raise RequestError(
            400, f"{where}: corrupt image data ({type(exc).__name__}: {exc})", param=where, code="invalid_image"
        ) from None


def _area(frame: object) -> int:
    """Pixels of a decoded frame (the frames a finished video item holds are PIL images)."""
    return frame.width * frame.height if isinstance(frame, Image.Image) else 0
