"""Batches planned by what they pad: each item's processed sequence length, read from headers.

A batch pads every row to its longest sequence, so the cost of an item is the length the model
will see: its formatted text tokens and special tokens, plus the visual tokens its image, video
frames or PDF page expand into (Qwen-VL, Idefics3, LLaVA-NeXT: the processor's own count for that
image size). Mllama's image is one `<|image|>` token and its tiles go to cross-attention, always
packed to `max_image_tiles` whatever the batch, so only the text length pads there (image and
text-only rows form separate groups: they run as separate forwards). Items are sorted by
(group, key, length) and each run of one (group, key) is cut where the total of padded positions
plus `BATCH_COST` per batch is smallest (an exact dynamic programme), at most `batch_size` rows and
`max_tokens` padded positions per batch: short items share big batches, and no batch pads much.
Sizes come from headers (image header, video stream header, PDF page box): nothing is decoded here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from ..media import FRAME_SUFFIXES, SAMPLED_FRAMES
from ..media_policy import MediaPolicy
from ..pdf_pages import open_pdf
from ..types import InputError

T = TypeVar("T")

BATCH_COST = 64
"""What one more forward costs, in padded token positions (processor call, kernel launches, Python):
the planner weighs it against the padding a longer batch adds. Mid-size P1 model on CPU: a forward's
fixed cost is ~10-20 positions; a tiny model's is hundreds."""


@dataclass(frozen=True)
class Cost:
    """What an item costs in a batch: `group` (rows of different groups never share a batch),
    `key` (the sort key within a group) and `length` (positions its row holds)."""

    group: int
    key: tuple[int, ...]
    length: int


class PaddingCounter:
    """Token positions the forwards computed (`padded`) vs needed (`real`), and how many forwards
    ran, summed over calls: what the planner saves, counted by the model that runs the batches."""

    def __init__(self) -> None:
        self.padded = 0
        self.real = 0
        self.forwards = 0

    def add(self, padded: int, real: int, forwards: int = 1) -> None:
        self.padded += padded
        self.real += real
        self.forwards += forwards

    @property
    def ratio(self) -> float:
        return self.padded / self.real if self.real else 1.0


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


def video_shape(video: Any) -> tuple[int, int, int] | None:
    """(sampled frames, width, height) of a frame list, frame folder or video file, from headers."""
    try:
        if isinstance(video, (list, tuple)):
            size = image_size(video[0]) if video else None
            return (min(len(video), SAMPLED_FRAMES), *size) if size else None
        path = Path(video) if isinstance(video, (str, Path)) else None
        if path is not None and path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
            size = image_size(files[0]) if files else None
            return (min(len(files), SAMPLED_FRAMES), *size) if size else None
        import av

        source = io.BytesIO(video) if isinstance(video, (bytes, bytearray)) else str(video)
        with av.open(source) as container:
            stream = container.streams.video[0]
            return min(stream.frames or SAMPLED_FRAMES, SAMPLED_FRAMES), stream.width, stream.height
    except Exception:  # unknown size; the media loader reports the problem when it decodes
        return None


def page_size(pdf: Any, page: int, policy: MediaPolicy) -> tuple[int, int] | None:
    """(width, height) a PDF page renders to, from its page box (the document is opened once and stays
    cached for the render, mme5.pdf_pages); None when it cannot be read or breaks a limit: the
    renderer reports that with its message."""
    try:
        return open_pdf(pdf, "", policy).rendered_size(page, "", policy)
    except InputError:
        return None


def media_size(item: Any, policy: MediaPolicy) -> tuple[bool, int, tuple[int, int] | None]:
    """(whether the item carries media, frames, (width, height) or None when unknown) from headers:
    a PDF page as it renders, a video's sampled frames and frame size, an image's size."""
    frames, size = 1, None
    if item.pdf is not None:
        size = page_size(item.pdf, item.page or 1, policy)
    elif item.has_video:
        shape = video_shape(item.video)
        if shape is not None:
            frames, size = shape[0], (shape[1], shape[2])
    elif item.has_image:
        size = image_size(item.image)
    visual = size is not None or item.has_image or item.has_video or item.pdf is not None
    return visual, frames, size


class VisualTokens:
    """Visual positions an image of a given size adds to a sequence, as the processor counts them
    (`_get_num_multimodal_tokens`, the count vLLM uses); 0 where the processor cannot say."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self._cache: dict[tuple[int, int], int] = {}

    def __call__(self, width: int, height: int) -> int:
        if (width, height) not in self._cache:
            self._cache[(width, height)] = self._count(width, height)
        return self._cache[(width, height)]

    def _count(self, width: int, height: int) -> int:
        count = getattr(self.processor, "_get_num_multimodal_tokens", None)
        if count is None:
            return 0
        try:
            n = getattr(count(image_sizes=[[height, width]]), "num_image_tokens", None)
            return int(n[0]) if n else 0
        except Exception:  # a processor whose arithmetic needs more than the size
            return 0


def plan(costs: Sequence[Cost], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Item indices grouped into batches, in processing order (see the module docstring)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(costs)), key=lambda i: (costs[i].group, costs[i].key, costs[i].length, i))
    batches: list[list[int]] = []
    for _, members in groupby(order, key=lambda i: (costs[i].group, costs[i].key)):
        run = list(members)  # rows of one group and key: batched apart from the others
        batches += [run[i:j] for i, j in _partition([costs[k].length for k in run], batch_size, max_tokens)]
    return batches


def _partition(lengths: list[int], batch_size: int, max_tokens: int | None) -> list[tuple[int, int]]:
    """Cut sorted `lengths` into consecutive batches of at most `batch_size` rows (and `max_tokens`
    padded positions, a single row excepted) minimising padded positions + BATCH_COST per batch:
    an exact dynamic programme over the cut points (n x batch_size steps)."""
    n = len(lengths)
    best = [0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = 0
        for i in range(j - 1, max(j - batch_size, 0) - 1, -1):
            longest = max(longest, lengths[i])
            padded = (j - i) * longest
            if max_tokens is not None and padded > max_tokens and j - i > 1:
                break
            total = best[i] + padded + BATCH_COST
            if total < best[j]:
                best[j], cut[j] = total, i
    spans, j = [], n
    while j > 0:
        spans.append((cut[j], j))
        j = cut[j]
    return spans[::-1]


def prepared_ahead(
    prepare: Callable[[list[int]], T], batches: list[list[int]], ahead: bool
) -> Iterator[tuple[list[int], T]]:
    """(indices, prepare(indices)) per batch, in order; with `ahead`, batch n+1 is prepared on a
    worker thread while the caller runs batch n (media decoding and the processor overlap the
    forward: worth it when the forward runs on an accelerator, not when it already fills the CPU)."""
    if not ahead or len(batches) < 2:
        for idx in batches:
            yield idx, prepare(idx)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mme5-prepare") as pool:
        pending = pool.submit(prepare, batches[0])
        for k, idx in enumerate(batches):
            done = pending.result()
            if k + 1 < len(batches):
                pending = pool.submit(prepare, batches[k + 1])
            yield idx, done


def ceil_pairs(frames: int, temporal: int = 2) -> int:
    """Temporal groups of a clip (the last frame repeated when the count is odd)."""
    return max(1, math.ceil(frames / temporal))
