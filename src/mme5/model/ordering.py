"""The order `Embedder.encode` forms batches in: items that pad alike go together.

Text rows pad to the longest text in their batch; image rows also pad to the largest image (Qwen-VL:
more vision tokens in the sequence; tiled backbones: more tiles). So items are sorted by kind (text,
image, video), then by the size the processor will give their media, then by text length. The media
size comes from the image header (PIL opens lazily: no pixel data is decoded here, the image is
loaded once, in `Embedder.prepare`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ..types import Item

TEXT, IMAGE, VIDEO = 0, 1, 2
"""Item kinds, in batch order."""


def image_size(image: Any) -> tuple[int, int] | None:
    """(width, height) of a PIL image, image bytes or image file, read from the header only; None when
    it cannot be read (the item's error is raised later, by the loader, with its message)."""
    if isinstance(image, Image.Image):
        return image.size
    try:
        source: Any = io.BytesIO(image) if isinstance(image, (bytes, bytearray)) else Path(image)
        with Image.open(source) as img:
            return img.size
    except Exception:  # unreadable here means "unknown size"; the loader names the problem
        return None


def processed_size(processor: Any, width: int, height: int) -> int:
    """How much an image of this size costs after processing: the image processor's patch count where
    it can say (Qwen-VL, Idefics3), else its pixel count."""
    count = getattr(getattr(processor, "image_processor", None), "get_number_of_image_patches", None)
    if count is not None:
        try:
            n = count(height, width, {})
            return int(n[0] if isinstance(n, tuple) else n)
        except Exception:  # a processor whose arithmetic needs more than the size: fall back
            pass
    return width * height


def media_key(item: Item, processor: Any, min_side: int) -> tuple[int, int, int]:
    """(kind, processed size, pixels) of an item's media; unknown sizes sort first within a kind."""
    if item.has_video:
        frames = item.video if isinstance(item.video, tuple) else ()
        size = image_size(frames[0]) if frames else None
        pixels = size[0] * size[1] * len(frames) if size else 0
        return VIDEO, len(frames), pixels
    if not item.has_image:
        return (IMAGE, 0, 0) if item.pdf is not None else (TEXT, 0, 0)  # a PDF page renders to an image
    size = image_size(item.image)
    if size is None:
        return IMAGE, 0, 0
    width, height = max(size[0], min_side), max(size[1], min_side)  # as `Embedder._image` enlarges
    return IMAGE, processed_size(processor, width, height), width * height


def encode_order(items: Sequence[Item], processor: Any, min_side: int, text_length: Callable[[Item], int]) -> list[int]:
    """Indices of `items` in batch order: by kind, processed media size, pixels, then text length."""
    keys = [(*media_key(item, processor, min_side), text_length(item)) for item in items]
    return sorted(range(len(items)), key=keys.__getitem__)
