"""The CPU side of encoding: one `Preprocessor` per loaded model, used by every surface (`Embedder`,
the Ray engine's prepare tasks, training collate, the sentence-transformers module, ONNX export).

items -> format once and tokenize once, batched (`format`) -> batches planned by their processed
length (`plan`, mme5.model.planning) -> media loaded and the processor run per batch (`prepare`).
The model runner (mme5.model.runner) only runs forward, pooling and normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import ConfigError
from ..media_policy import DEFAULT_POLICY, MediaPolicy
from ..types import Item, load_image
from .backbones import Backbone
from .formatting import format_text
from .loading import resolve_backbone
from .planning import Cost, VisualTokens, ceil_pairs, media_size, plan
from .profiles import DEFAULT_PROFILE, check_profile, get_profile, profile_inputs, resolve_profile
from .video import VIDEO_NATIVE, apply_fallback, as_formatted, video_mode


@dataclass(frozen=True)
class Formatted:
    """An item's text as the processor receives it (formatted, cut to fit), its token count
    (without the special tokens the processor adds) and whether it was cut."""

    text: str
    tokens: int
    truncated: bool


@dataclass
class Prepared:
    """Processor outputs for one batch, as parts of (row indices, tensors).

    Usually one part. Backbones whose text-only rows change when batched with image rows
    (Mllama: a row with no image still cross-attends to padded tiles) get one part per modality,
    so a vector never depends on its batch neighbours.
    """

    parts: list[tuple[list[int], dict[str, torch.Tensor]]]
    size: int
    truncated: int

    def token_counts(self) -> np.ndarray:
        """(size,) positions each row's sequence holds (text, special and image tokens), from the
        processor's attention mask: what the model reads, and what `usage` reports."""
        counts = np.zeros(self.size, dtype=np.int64)
        for rows, inputs in self.parts:
            per_row = inputs["attention_mask"].sum(dim=1).tolist()
            for row, n in zip(rows, per_row):
                if row >= 0:
                    counts[row] = n
        return counts

    def positions(self) -> tuple[int, int]:
        """(padded, real) token positions of the batch's sequences (padding rows excluded): what the
        forward computes vs what it needs."""
        padded = real = 0
        for rows, inputs in self.parts:
            mask = inputs["attention_mask"]
            kept = torch.tensor([r >= 0 for r in rows])
            padded += int(kept.sum()) * mask.shape[1]
            real += int(mask[kept].sum())
        return padded, real


class Preprocessor:
    """Parse-ready items -> planned, processed batches for one model (processor, backbone, profile)."""

    def __init__(
        self,
        processor: Any,
        backbone: Backbone,
        *,
        max_length: int = 256,
        profile: str | None = None,
        media_policy: MediaPolicy = DEFAULT_POLICY,
    ) -> None:
        self.processor = processor
        self.media_policy = media_policy
        """Limits on reading images, videos and PDF pages (mme5.media_policy)."""
        self.backbone = backbone
        self.max_length = max_length
        self.profile = check_profile(profile or DEFAULT_PROFILE, backbone.name).name
        self._own = get_profile(self.profile)
        """The profile's own chat rendering / processor call, where it has them (qwen3-vl-embedding)."""
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = backbone.padding_side
        self._specials = self.tokenizer.num_special_tokens_to_add()
        self._visual = VisualTokens(processor)
        self.max_tokens: int | None = None
        """Padded token positions a batch may hold (`plan`'s default budget; None: only `batch_size`)."""

    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | Path,
        *,
        backbone: str | None = None,
        max_length: int | None = None,
        profile: str | None = None,
        media_policy: MediaPolicy = DEFAULT_POLICY,
        max_tokens: int | None = None,
    ) -> Preprocessor:
        """The processor side of a model folder or hub id, without its weights (CPU workers); the
        profile and max length resolve as in `Embedder.from_pretrained`."""
        spec = resolve_backbone(model_name_or_path, backbone)
        chosen, max_length = resolve_profile(model_name_or_path, spec.name, profile, max_length)
        profile = chosen.name
        processor = spec.processor_class().from_pretrained(str(model_name_or_path))
        out = cls(processor, spec, max_length=max_length, profile=profile, media_policy=media_policy)
        out.max_tokens = max_tokens
        return out

    def with_profile(self, profile: str | None) -> Preprocessor:
        """The same processor under another formatting profile (checked for this backbone)."""
        out = Preprocessor(
            self.processor, self.backbone, max_length=self.max_length, profile=profile, media_policy=self.media_policy
        )
        out.max_tokens = self.max_tokens
        return out

    @property
    def video_mode(self) -> str:
        """`native`, or `middle-frame`: the off-protocol fallback of image-only backbones."""
        return video_mode(self.backbone)

    # ---- text: formatted once, tokenized once --------------------------------------------
    def format(self, items: Sequence[Item]) -> list[Formatted]:
        """Each item's processor text, cut to `max_length` (one batched tokenizer call)."""
        if not items:
            return []
        if self._own.chat is not None:  # the profile renders a chat and cuts it in its own `prepare`
            texts = [self._own.chat(self.processor, item) for item in items]
            ids = self.tokenizer(texts, add_special_tokens=False).input_ids
            return [Formatted(text, len(row), len(row) > self.max_length) for text, row in zip(texts, ids)]
        texts = [format_text(as_formatted(item, self.backbone), self.backbone, self.profile) for item in items]
        ids = self.tokenizer(texts, add_special_tokens=False).input_ids
        budget = max(self.max_length - self._specials, 0)
        return [self._fit(text, row, budget) for text, row in zip(texts, ids)]

    def _fit(self, text: str, ids: list[int], budget: int) -> Formatted:
        """Backbones whose processor truncates get their text unchanged (the processor cuts the
        ids, as mmE5 does); for the others, image placeholders expand later, so the text is cut
        here, at a token boundary that does not split a character."""
        if len(ids) <= budget:
            return Formatted(text, len(ids), False)
        if self.backbone.processor_truncates:
            return Formatted(text, budget, True)
        keep = budget
        cut = self.tokenizer.decode(ids[:keep], skip_special_tokens=False)
        while keep > 0 and cut.endswith("\ufffd"):  # a multi-byte character split by the cut
            keep -= 1
            cut = self.tokenizer.decode(ids[:keep], skip_special_tokens=False)
        return Formatted(cut, keep, True)

    # ---- batches planned by what they pad -------------------------------------------------
    def costs(self, items: Sequence[Item], formatted: Sequence[Formatted]) -> list[Cost]:
        """Each item's batch cost (mme5.model.planning), from media headers."""
        return [self._cost(item, f) for item, f in zip(items, formatted)]

    def _cost(self, item: Item, f: Formatted) -> Cost:
        length = f.tokens + self._specials
        visual, frames, size = media_size(item, self.media_policy)
        if self._own.positions is not None:  # the profile sizes media itself (not the processor's rule)
            return Cost(0, (), length + (self._own.positions(item, frames, size) if size else 0))
        if item.has_video and self.video_mode != VIDEO_NATIVE:
            frames = 1
        if size is not None:
            side = self.backbone.min_image_side
            size = (max(size[0], side), max(size[1], side))
        if self.backbone.split_mixed_batches:  # Mllama: tiles in cross-attention, packed to the maximum
            return Cost(int(visual), (), min(length, self.max_length))
        tokens = self._visual(*size) if size else 0
        if item.has_video and self.video_mode == VIDEO_NATIVE:
            tokens *= ceil_pairs(frames)
        return Cost(0, (), length + max(tokens - 1, 0))

    def plan(
        self,
        items: Sequence[Item],
        batch_size: int,
        max_tokens: int | None = None,
        formatted: Sequence[Formatted] | None = None,
    ) -> list[list[int]]:
        """The encode batches: item indices, at most `batch_size` rows and `max_tokens` padded
        positions each, ordered and cut by processed length."""
        formatted = self.format(items) if formatted is None else formatted
        return plan(self.costs(items, formatted), batch_size, max_tokens if max_tokens is not None else self.max_tokens)

    # ---- media and the processor ------------------------------------------------------------
    def prepare(
        self,
        items: Sequence[Item],
        where: Sequence[str] | None = None,
        *,
        lockstep: bool = False,
        formatted: Sequence[Formatted] | None = None,
    ) -> Prepared:
        """Load media and run the processor for one batch (`formatted`: this batch's `format`).

        `lockstep`: every call runs the same modules in the same order, whatever its items (what
        DeepSpeed ZeRO-3 needs: each rank gathers a layer's weights as it enters it). Each part gets
        a padding row with an image, and split backbones always get both parts; padding rows
        (index -1) are dropped from the output."""
        items = list(items)
        n = len(items)
        where = list(where) if where is not None else [f"item {i}" for i in range(n)]
        if self._own.prepare is not None:  # the profile owns media handling and the processor call
            if lockstep:
                raise ConfigError(f"the {self.profile} profile does not run in lockstep (DeepSpeed ZeRO-3) yet")
            inputs = self._own.prepare(self.processor, items, where, self.max_length, self.media_policy)
            cut = int((inputs["attention_mask"].sum(dim=1) >= self.max_length).sum())
            return Prepared(parts=[(list(range(n)), inputs)], size=n, truncated=cut)
        fits = list(formatted) if formatted is not None else self.format(items)
        items, videos = apply_fallback(items, self.backbone, where, self.media_policy)
        if lockstep:
            pads = [Item(text="-"), Item(text="-", image=_blank_image(self.backbone.min_image_side))]
            items += pads
            videos += [None, None]
            fits += self.format(pads)
        texts = [f.text for f in fits]
        truncated = sum(f.truncated for f in fits[:n])
        images = [self._image(item, where[i] if i < n else "padding row") for i, item in enumerate(items)]
        rows = list(range(len(items)))
        if self.backbone.split_mixed_batches:
            groups = [[i for i in rows if images[i] is None], [i for i in rows if images[i] is not None]]
        else:
            groups = [rows[:n] + rows[n + 1 :]] if lockstep else [rows]  # one padding row, with the image
        parts = [
            (
                [i if i < n else -1 for i in g],
                self._process([texts[i] for i in g], [images[i] for i in g], [videos[i] for i in g]),
            )
            for g in groups
            if g
        ]
        return Prepared(parts=parts, size=n, truncated=truncated)

    def _process(self, texts: list[str], images: list, videos: list) -> dict[str, torch.Tensor]:
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(v is not None for v in videos):  # frame lists (mme5.model.video)
            kwargs["videos"] = [v for v in videos if v is not None]
        if self.backbone.processor_truncates:
            kwargs.update(truncation=True, max_length=self.max_length)
        if any(img is not None for img in images):
            if self.backbone.nested_images:
                kwargs["images"] = [[img] if img is not None else [] for img in images]
            else:
                kwargs["images"] = [img for img in images if img is not None]
        inputs = dict(self.processor(**kwargs))
        inputs.pop("token_type_ids", None)
        return profile_inputs(self.profile, inputs)

    def _image(self, item: Item, where: str) -> Image.Image | None:
        if item.image is None or not item.has_image:
            return None
        img = load_image(item.image, where, self.media_policy)
        side = self.backbone.min_image_side
        if img.width < side or img.height < side:
            img = img.resize((max(img.width, side), max(img.height, side)))
        return img


def _blank_image(side: int) -> Image.Image:
    return Image.new("RGB", (max(side, 28), max(side, 28)), (127, 127, 127))
