"""Model inputs of reranker pairs: media as the published reranker sizes them, the processor run,
and the special-token-preserving truncation with left padding (spec qwen3_vl_family.md §5).

Kept apart from the Reranker so the truncation and padding rules can be read (and tested) alone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..types import ImageLike, load_image

MAX_LENGTH = 10240
"""Tokens a pair keeps before its generation prompt (the publishers' `max_length`)."""
MIN_PIXELS = 4 * 32 * 32
MAX_PIXELS = 1800 * 32 * 32
MAX_FRAMES = 64


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """qwen-vl-utils' `smart_resize` (spec §3): both sides multiples of `factor`, the area within
    [min_pixels, max_pixels], the aspect ratio kept as closely as possible."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.0f} is over 200")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = math.floor(height / beta / factor) * factor
        w = math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def rgb_on_white(image: ImageLike, where: str) -> Image.Image:
    """The image as RGB, transparency composited on white (as qwen-vl-utils does)."""
    try:
        if isinstance(image, Image.Image):
            img = image
        else:
            img = Image.open(io.BytesIO(image) if isinstance(image, (bytes, bytearray)) else Path(image))
            img.load()
    except Exception:  # missing or unreadable: load_image raises the one clear message for it
        return load_image(image, where)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def qwen_image(image: ImageLike, where: str, factor: int) -> Image.Image:
    """An image resized as the published reranker does before its processor (`do_resize=False`)."""
    img = rgb_on_white(image, where)
    h, w = smart_resize(img.height, img.width, factor, MIN_PIXELS, MAX_PIXELS)
    return img if img.size == (w, h) else img.resize((w, h), Image.Resampling.BICUBIC)


def special_ids(tokenizer: Any) -> set[int]:
    """Every special token id: the listed ones and every added token flagged special (transformers 5
    lists only a few in `all_special_ids`; the chat and vision tokens are flagged, not listed)."""
    flagged = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    return flagged | set(tokenizer.all_special_ids)


def truncate_ids(ids: Sequence[int], max_length: int, tail: int, special: set[int]) -> list[int]:
    """Keep the last `tail` ids (the generation prompt) and cut the rest to `max_length`: every
    special id stays, the latest non-special ids go first (the publishers' rule)."""
    return [ids[i] for i in kept_positions(ids, max_length, tail, special)]


def kept_positions(ids: Sequence[int], max_length: int, tail: int, special: set[int]) -> list[int]:
    """Indices into `ids` that `truncate_ids` keeps."""
    body = len(ids) - tail
    if body <= max_length:
        return list(range(len(ids)))
    budget = max_length - sum(1 for t in ids[:body] if t in special)
    kept, plain = [], 0
    for i, t in enumerate(ids[:body]):
        if t in special:
            kept.append(i)
        elif plain < budget:
            kept.append(i)
            plain += 1
    return kept + list(range(body, len(ids)))


def cut_and_pad(
    inputs: dict[str, torch.Tensor], tail_ids: Sequence[int], max_length: int, special: set[int], pad_id: int
) -> tuple[dict[str, torch.Tensor], int]:
    """Truncate every row of a processor batch (`truncate_ids`) and left-pad the batch again.

    Every per-token tensor (shape `(batch, seq, ...)`: ids, mask, `mm_token_type_ids`, Mllama's
    cross-attention mask) keeps the same positions as the ids. Returns (inputs, rows cut)."""
    ids, mask = inputs["input_ids"], inputs["attention_mask"].bool()
    batch, seq = ids.shape
    tail = len(tail_ids)
    keep: list[torch.Tensor] = []
    cut = 0
    for row in range(batch):
        positions = torch.nonzero(mask[row]).flatten()
        row_ids = ids[row, positions].tolist()
        if row_ids[len(row_ids) - tail :] != list(tail_ids):
            raise RuntimeError("a reranker sequence does not end with its generation prompt")
        kept = kept_positions(row_ids, max_length, tail, special)
        cut += len(kept) < len(row_ids)
        keep.append(positions[kept])
    width = max(len(k) for k in keep)
    out = {}
    for key, value in inputs.items():
        if not (torch.is_tensor(value) and value.dim() >= 2 and value.shape[:2] == (batch, seq)):
            out[key] = value
            continue
        fill = pad_id if key == "input_ids" else 0
        padded = value.new_full((batch, width, *value.shape[2:]), fill)
        for row, positions in enumerate(keep):
            padded[row, width - len(positions) :] = value[row, positions]
        out[key] = padded
    return out, cut
