"""The Embedder: one encode path (format -> process -> inner forward -> last-token pool -> L2)
shared by training, evaluation and serving."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ..config import ConfigError
from ..types import InputError, Item, load_image, parse_item
from .backbones import Backbone
from .fingerprint import fingerprint_model
from .formatting import format_text
from .loading import load_weights, resolve_backbone, resolve_device, resolve_dtype
from .ordering import encode_order
from .pooling import last_token_pool, normalize
from .profiles import get_profile, profile_inputs, profiled_fingerprint, resolve_profile
from .video import apply_fallback, video_mode

log = logging.getLogger(__name__)


def inner_model(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack without the LM head (also through a PEFT wrapper).

    Its `last_hidden_state` equals `hidden_states[-1]` of the full model, without computing the
    vocabulary projection.
    """
    base: Any = model.get_base_model() if hasattr(model, "get_base_model") else model  # type: ignore[operator]
    return base.model


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


class Embedder:
    """Encode items (instruction + text + image) into L2-normalised vectors."""

    profile: str = "mme5"
    """Input formatting profile (mme5.model.profiles): chosen at load time; `set_profile` switches it."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor: Any,
        backbone: Backbone,
        *,
        max_length: int = 256,
        fingerprint: str = "",
        profile: str = "mme5",
    ) -> None:
        self.model = model
        self.profile = profile
        self.processor = processor
        self.backbone = backbone
        self.max_length = max_length
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = backbone.padding_side
        self._fingerprint = fingerprint
        self.truncated_total = 0

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | Path,
        *,
        adapter: str | Path | None = None,
        backbone: str | None = None,
        dtype: str | torch.dtype | None = None,
        device: str | None = None,
        max_length: int | None = None,
        attn_implementation: str | None = "sdpa",
        profile: str | None = None,
    ) -> Embedder:
        """Load a local folder or hub id (real `from_pretrained`), optionally merging a LoRA adapter
        (`mme5.model.loading`: backbone detection, folder checks, dtype; fingerprint from the files).
        `profile` None: the one the checkpoint calls for (`detect_profile`); `max_length` None: the
        profile's (256 for mme5's, 8,192 for qwen3-vl-embedding)."""
        spec = resolve_backbone(model_name_or_path, backbone)
        chosen, max_length = resolve_profile(model_name_or_path, spec.name, profile, max_length, adapter)
        device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        model, processor = load_weights(
            model_name_or_path,
            spec,
            adapter=adapter,
            dtype=torch_dtype,
            device=device,
            attn_implementation=attn_implementation,
        )
        fp = fingerprint_model(model_name_or_path, adapter, torch_dtype, max_length)
        return cls(model, processor, spec, max_length=max_length, fingerprint=fp, profile=chosen.name)

    @classmethod
    def preparer(
        cls,
        model_name_or_path: str | Path,
        *,
        backbone: str | None = None,
        max_length: int | None = None,
        profile: str | None = None,
    ) -> Embedder:
        """An Embedder without weights: it plans batches and runs `prepare` (formatting, media
        decoding, the processor) but cannot `forward`. CPU workers (the Ray engine's prepare tasks)
        use it, so the model replicas only run the model."""
        spec = resolve_backbone(model_name_or_path, backbone)
        chosen, max_length = resolve_profile(model_name_or_path, spec.name, profile, max_length)
        processor = spec.processor_class().from_pretrained(str(model_name_or_path))
        return cls(cast(Any, None), processor, spec, max_length=max_length, profile=chosen.name)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def fingerprint(self) -> str:
        """Identifies weights + formatting + max_length; keys the evaluation embedding cache."""
        return profiled_fingerprint(self._fingerprint, self.profile)

    @property
    def video_mode(self) -> str:
        """`native`, or `middle-frame`: the off-protocol fallback of image-only backbones (name it in results)."""
        return video_mode(self.backbone)

    @property
    def dim(self) -> int:
        config: Any = self.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return int(text_config.hidden_size)

    # ---- the encode path -----------------------------------------------------------------
    def prepare(self, items: Sequence[Item], where: Sequence[str] | None = None, *, lockstep: bool = False) -> Prepared:
        """Format texts, load images and run the processor for one batch.

        `lockstep`: every call runs the same modules in the same order, whatever its items (what
        DeepSpeed ZeRO-3 needs: each rank gathers a layer's weights as it enters it). Each part gets
        a padding row with an image, and split backbones always get both parts; padding rows
        (index -1) are dropped from the output."""
        items = list(items)
        n = len(items)
        if (own := get_profile(self.profile).prepare) is not None:  # the profile owns the processor call
            if lockstep:
                raise ConfigError(f"the {self.profile} profile does not run in lockstep (DeepSpeed ZeRO-3) yet")
            names = [where[i] if where else f"item {i}" for i in range(n)]
            inputs = own(self.processor, items, names, self.max_length)
            cut = int((inputs["attention_mask"].sum(dim=1) >= self.max_length).sum())
            return Prepared(parts=[(list(range(n)), inputs)], size=n, truncated=cut)
        items, videos = apply_fallback(items, self.backbone, [where[i] if where else f"item {i}" for i in range(n)])
        if lockstep:
            items += [Item(text="-"), Item(text="-", image=_blank_image(self.backbone.min_image_side))]
            videos += [None, None]
        texts, truncated = [], 0
        for item in items:
            text, cut = self._truncate(format_text(item, self.backbone, self.profile))
            texts.append(text)
            truncated += cut if len(texts) <= n else 0
        images = [self._image(item, where[i] if where and i < n else f"item {i}") for i, item in enumerate(items)]
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

    def _process(self, texts: list[str], images: list, videos: list | None = None) -> dict[str, torch.Tensor]:
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if videos and any(v is not None for v in videos):  # frame lists (mme5.model.video)
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
        return profile_inputs(self.profile, inputs) if self.profile != "mme5" else inputs

    def forward(self, prepared: Prepared) -> torch.Tensor:
        """Prepared batch -> (batch, dim) L2-normalised embeddings (keeps the autograd graph)."""
        device = self.device
        outs, order = [], []
        for rows, inputs in prepared.parts:
            inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}
            hidden = inner_model(self.model)(**inputs, use_cache=False, return_dict=True).last_hidden_state
            outs.append(last_token_pool(hidden, inputs["attention_mask"]))
            order.extend(rows)
        pooled = torch.cat(outs) if len(outs) > 1 else outs[0]
        if order != sorted(order) or order[0] < 0:  # parts out of order, or padding rows (index -1)
            index = torch.tensor(order, device=pooled.device)
            kept = index >= 0
            pooled = pooled[kept][torch.argsort(index[kept])]
        return normalize(pooled.float())

    @torch.no_grad()
    def encode(
        self,
        items: Sequence[Item | dict | str],
        batch_size: int = 16,
        *,
        show_progress: bool | None = None,
        where: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Items -> (n, dim) float32, L2-normalised, row i = item i. Batches group items that pad alike
        (kind, processed image size, text length: `mme5.model.ordering`).
        `where` names each item in errors (e.g. "items.jsonl:4"; default "item i")."""
        return self.encode_with_usage(items, batch_size, show_progress=show_progress, where=where)[0]

    @torch.no_grad()
    def encode_with_usage(
        self,
        items: Sequence[Item | dict | str],
        batch_size: int = 16,
        *,
        show_progress: bool | None = None,
        where: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`encode`, plus the number of tokens each item's sequence held (`Prepared.token_counts`)."""
        where = list(where) if where is not None else [f"item {i}" for i in range(len(items))]
        if len(where) != len(items):
            raise ValueError(f"where has {len(where)} entries for {len(items)} items")
        parsed = [parse_item(x, where[i]) for i, x in enumerate(items)]
        if not parsed:
            raise InputError("nothing to encode: the input is empty")
        out = np.empty((len(parsed), self.dim), dtype=np.float32)
        tokens = np.empty(len(parsed), dtype=np.int64)
        batches = self.plan_batches(parsed, batch_size)
        progress = show_progress if show_progress is not None else len(batches) > 8
        truncated = 0
        from tqdm.auto import tqdm

        for idx in tqdm(batches, desc="encode", unit="batch", disable=not progress):
            prepared = self.prepare([parsed[i] for i in idx], where=[where[i] for i in idx])
            truncated += prepared.truncated
            out[idx] = self.forward(prepared).cpu().numpy()
            tokens[idx] = prepared.token_counts()
        if truncated:
            self.truncated_total += truncated
            log.warning(
                "%d of %d texts were longer than max_length=%d tokens and were truncated",
                truncated,
                len(parsed),
                self.max_length,
            )
        return out, tokens

    def plan_batches(self, items: Sequence[Item], batch_size: int) -> list[list[int]]:
        """The encode batches: item indices of `batch_size` items that pad alike, in processing order."""
        order = encode_order(list(items), self.processor, self.backbone.min_image_side, self._length)
        return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]

    # ---- helpers -------------------------------------------------------------------------
    def _length(self, item: Item) -> int:
        chat = get_profile(self.profile).chat
        text = chat(self.processor, item) if chat is not None else format_text(item, self.backbone, self.profile)
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _truncate(self, text: str) -> tuple[str, int]:
        """Fit the text into `max_length` ids with the special tokens the processor adds; returns
        (text, 1 if cut). Backbones whose processor truncates get their text unchanged (the processor
        cuts the ids, as mmE5 does); for the others, image placeholders expand later, so the text is
        cut here, at a token boundary that does not split a character."""
        budget = self.max_length - self.tokenizer.num_special_tokens_to_add()
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) <= budget:
            return text, 0
        if self.backbone.processor_truncates:
            return text, 1
        keep = max(budget, 0)
        cut = self.tokenizer.decode(ids[:keep], skip_special_tokens=False)
        while keep > 0 and cut.endswith("\ufffd"):  # a multi-byte character split by the cut
            keep -= 1
            cut = self.tokenizer.decode(ids[:keep], skip_special_tokens=False)
        return cut, 1

    def _image(self, item: Item, where: str):
        if item.image is None or not item.has_image:
            return None
        img = load_image(item.image, where)
        side = self.backbone.min_image_side
        if img.width < side or img.height < side:
            img = img.resize((max(img.width, side), max(img.height, side)))
        return img


def _blank_image(side: int):
    from PIL import Image

    return Image.new("RGB", (max(side, 28), max(side, 28)), (127, 127, 127))
