"""The Reranker: P(yes) that a document answers a query, read from a vision-language LLM.

score = sigmoid(h . (W[yes] - W[no])), with h the decoder's last hidden state (after the final
norm) at the last position of the left-padded pair and W the LM head: the published
Qwen3-VL-Reranker computation (spec qwen3_vl_family.md §5), for any registry backbone. The pair's
text comes from `mme5.model.rerank_format`, its tensors from `mme5.model.rerank_inputs`.

The publishers score one pair per forward; here each pair's text is rendered once, all are
tokenized in one call, and the pairs are cut into batches by their processed length (text plus
visual positions, read from media headers) with the encoder's planner (mme5.model.planning), then
left-padded: fewer pad tokens and fewer forwards, and no score changes (tested to 1e-5). Media are
read under one `MediaPolicy`; in the Qwen3-VL-Reranker format they are sized exactly as for
Qwen3-VL-Embedding (frame lists at fps 2, files at fps 1, mme5.model.qwen_vision).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..media_policy import DEFAULT_POLICY, MediaPolicy
from ..types import InputError, Item, load_image, parse_item
from . import qwen3_vl_embedding as qwen
from .backbones import Backbone
from .embedder import inner_model
from .loading import load_checkpoint, resolve_backbone
from .planning import Cost, PaddingCounter, VisualTokens, ceil_pairs, media_size, plan, prepared_ahead
from .rerank_format import ANSWER_TOKENS, QWEN3_VL_RERANKER, conversation, detect_format, generation_tail, render
from .rerank_inputs import MAX_LENGTH, cut_and_pad, special_ids
from .video import VIDEO_NATIVE, apply_fallback, as_formatted, video_mode

log = logging.getLogger(__name__)

Pair = tuple[Item, Item]


@dataclass
class RerankBatch:
    """Model inputs of a batch of pairs (left-padded) and how many pairs were truncated."""

    inputs: dict[str, torch.Tensor]
    truncated: int


class Reranker:
    """Score (query, document) pairs; items as everywhere (text, image, video, PDF page)."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor: Any,
        backbone: Backbone,
        *,
        fmt: str = QWEN3_VL_RERANKER,
        max_length: int = MAX_LENGTH,
        fingerprint: str = "",
        media_policy: MediaPolicy = DEFAULT_POLICY,
    ) -> None:
        self.model = model
        self.media_policy = media_policy
        """Limits on reading images, videos and PDF pages (mme5.media_policy)."""
        self.processor = processor
        self.backbone = backbone
        self.format = fmt
        self.max_length = max_length
        self.fingerprint = f"{fingerprint}-rerank-{fmt}-{max_length}"
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        vocab = self.tokenizer.get_vocab()
        missing = [t for t in ANSWER_TOKENS if t not in vocab]
        if missing:
            raise InputError(
                f"this tokenizer has no single token for {' / '.join(missing)}: a yes/no reranker reads "
                "P(yes) against P(no) (build a tiny one with `mme5 init-tiny --reranker`)"
            )
        self.answer_ids = (vocab[ANSWER_TOKENS[0]], vocab[ANSWER_TOKENS[1]])
        self.tail_ids: list[int] = self.tokenizer(
            generation_tail(fmt, processor, backbone), add_special_tokens=False
        ).input_ids
        self.special_ids = special_ids(self.tokenizer)
        self.truncated_total = 0
        self.max_tokens: int | None = None
        """Padded token positions a batch may hold (`--max-batch-tokens`); None: `batch_size` alone."""
        self.prefetch: bool | None = None
        """Prepare batch n+1 while batch n runs; None: only when the model is on an accelerator."""
        self.padding = PaddingCounter()
        """Padded vs real positions and forwards of every `score_pairs` batch (what the planner saves)."""
        self._visual = VisualTokens(processor)

    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | Path,
        *,
        fmt: str | None = None,
        adapter: str | Path | None = None,
        backbone: str | None = None,
        dtype: str | torch.dtype | None = None,
        device: str | None = None,
        max_length: int = MAX_LENGTH,
        attn_implementation: str | None = "sdpa",
        media_policy: MediaPolicy = DEFAULT_POLICY,
        max_tokens: int | None = None,
    ) -> Reranker:
        """Load a folder or hub id with its LM head; the format is chosen by `detect_format`
        (published Qwen3-VL-Reranker checkpoints and `init-tiny --reranker` folders are recognised)."""
        spec = resolve_backbone(model_name_or_path, backbone)
        fmt = detect_format(model_name_or_path, spec, fmt)
        model, processor, fp = load_checkpoint(
            model_name_or_path,
            spec,
            adapter=adapter,
            dtype=dtype,
            device=device,
            attn_implementation=attn_implementation,
            max_length=max_length,
        )
        reranker = cls(
            model, processor, spec, fmt=fmt, max_length=max_length, fingerprint=fp, media_policy=media_policy
        )
        reranker.max_tokens = max_tokens
        return reranker

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- text and inputs ------------------------------------------------------------------
    def pair_text(self, query: Item, document: Item, instruction: str | None = None) -> str:
        """The exact text the model reads for a pair (before the processor expands media)."""
        instruction = instruction or query.instruction
        sides = (as_formatted(query, self.backbone), as_formatted(document, self.backbone))  # PDF page: an image
        return render(self.format, self.processor, self.backbone, conversation(*sides, instruction))

    def prepare(
        self,
        pairs: Sequence[Pair],
        instructions: Sequence[str | None],
        where: Sequence[tuple[str, str]] | None = None,
        texts: Sequence[str] | None = None,
    ) -> RerankBatch:
        """Media and the processor for one batch (`texts`: the pairs' `pair_text`, rendered here when
        not given), then truncation and left padding. `where`: each pair's (query, document) names
        for error messages (default `pairs[i].query` / `pairs[i].document`)."""
        where = list(where) if where is not None else pair_names(len(pairs))
        if texts is None:
            texts = [self.pair_text(q, d, ins) for (q, d), ins in zip(pairs, instructions)]
        sides = [side for pair in pairs for side in pair]
        names = [field_name(side, name) for side, name in zip(sides, (n for pair in where for n in pair))]
        read = self._read_qwen if self.format == QWEN3_VL_RERANKER else self._read_mme5
        inputs = read(sides, list(texts), names)
        pad = self.tokenizer.pad_token_id
        inputs, cut = cut_and_pad(inputs, self.tail_ids, self.max_length, self.special_ids, pad)
        return RerankBatch(inputs=inputs, truncated=cut)

    def _read_qwen(self, sides: list[Item], texts: list[str], names: list[str]) -> dict[str, torch.Tensor]:
        """Media as Qwen3-VL-Embedding reads them (the published reranker shares its resizing): PDF
        pages rendered, images within 4,096-1,843,200 px, frame lists at fps 2, files at fps 1."""
        images, videos = [], []
        for side, name in zip(sides, names):
            if side.has_video and (side.has_image or side.pdf is not None):
                raise InputError(f"{name}: an item takes an image or a video, not both")
            if (video := qwen.item_video(side, name, self.media_policy)) is not None:
                videos.append(video)
            if (image := qwen.item_image(side, name, self.media_policy)) is not None:
                images.append(image)
        return qwen.run_processor(self.processor, texts, images, videos, padding_side="left")

    def _read_mme5(self, sides: list[Item], texts: list[str], names: list[str]) -> dict[str, torch.Tensor]:
        """Media as the Embedder reads them for this backbone (native video or the middle frame)."""
        read, frames = apply_fallback(sides, self.backbone, names, self.media_policy)
        images = [self._image(s, n) if s.has_image else None for s, n in zip(read, names)]
        per_pair = [[i for i in images[k : k + 2] if i is not None] for k in range(0, len(images), 2)]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(per_pair):
            kwargs["images"] = per_pair if self.backbone.nested_images else [i for i in images if i is not None]
        if any(f is not None for f in frames):
            kwargs["videos"] = [f for f in frames if f is not None]
        inputs = dict(self.processor(**kwargs))
        inputs.pop("token_type_ids", None)
        return inputs

    def _image(self, item: Item, where: str):
        img = load_image(item.image, where, self.media_policy)  # type: ignore[arg-type]
        side = self.backbone.min_image_side  # the Embedder's rule for families with a minimum side
        return img if min(img.size) >= side else img.resize((max(img.width, side), max(img.height, side)))

    # ---- batches planned by what they pad -------------------------------------------------
    def costs(self, pairs: Sequence[Pair], texts: Sequence[str]) -> list[Cost]:
        """Each pair's batch cost (mme5.model.planning): its text tokens (one batched tokenizer call)
        plus the visual positions of both sides' media, read from headers; capped at what truncation
        keeps. Mllama-style backbones batch pairs with and without images apart."""
        ids = self.tokenizer(list(texts), add_special_tokens=False).input_ids if texts else []
        cap = self.max_length + len(self.tail_ids)
        seen: dict[int, tuple[bool, int]] = {}  # a query shared by its candidates is read once
        out = []
        for pair, row in zip(pairs, ids):
            visual, positions = False, 0
            for side in pair:
                if id(side) not in seen:
                    has_media, frames, size = media_size(side, self.media_policy)
                    seen[id(side)] = has_media, max(self._positions(side, frames, size) - 1, 0) if size else 0
                has_media, extra = seen[id(side)]  # its pad token expands into `extra` + 1 positions
                visual |= has_media
                positions += extra
            group = int(visual) if self.backbone.split_mixed_batches else 0
            out.append(Cost(group, (), min(len(row) + positions, cap)))
        return out

    def _positions(self, side: Item, frames: int, size: tuple[int, int]) -> int:
        if self.format == QWEN3_VL_RERANKER:
            return qwen.media_positions(side, frames, size)
        if self.backbone.split_mixed_batches:  # Mllama: tiles go to cross-attention, not the sequence
            return 0
        min_side = self.backbone.min_image_side
        tokens = self._visual(max(size[0], min_side), max(size[1], min_side))
        native = side.has_video and video_mode(self.backbone) == VIDEO_NATIVE
        return tokens * ceil_pairs(frames) if native else tokens

    # ---- the model ------------------------------------------------------------------------
    def logits(self, batch: RerankBatch) -> torch.Tensor:
        """(batch,) h . (W[yes] - W[no]) at the last position (keeps the autograd graph)."""
        inputs = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.inputs.items()}
        hidden = inner_model(self.model)(**inputs, use_cache=False, return_dict=True).last_hidden_state[:, -1]
        return hidden @ self.answer_direction().to(hidden.dtype)

    def answer_direction(self) -> torch.Tensor:
        """W[yes] - W[no] of the LM head (the published `score_linear` weight)."""
        head: Any = self.model.get_output_embeddings()  # type: ignore[operator]
        yes, no = self.answer_ids
        return head.weight[yes] - head.weight[no]

    @torch.no_grad()
    def score(
        self,
        query: Item | dict | str,
        documents: Sequence[Item | dict | str],
        instruction: str | None = None,
        *,
        batch_size: int = 16,
    ) -> list[float]:
        """P(yes) for each document against `query` (in the documents' order)."""
        q = parse_item(query, "query")
        docs = [parse_item(d, f"documents[{i}]") for i, d in enumerate(documents)]
        where = [("query", f"documents[{i}]") for i in range(len(docs))]
        return self.score_pairs([(q, d) for d in docs], instruction, batch_size=batch_size, where=where).tolist()

    @torch.no_grad()
    def score_pairs(
        self,
        pairs: Sequence[Pair],
        instructions: str | None | Sequence[str | None] = None,
        *,
        batch_size: int = 16,
        show_progress: bool = False,
        raw: bool = False,
        where: Sequence[tuple[str, str]] | None = None,
    ) -> np.ndarray:
        """(n,) float64 scores of many pairs (e.g. every query's candidates): batches of at most
        `batch_size` pairs planned by processed length, each score independent of its neighbours. `raw`: the
        logits h . (W[yes] - W[no]) instead of P(yes) (distillation targets). `where`: each pair's
        (query, document) names for error messages (as `prepare`)."""
        if isinstance(instructions, str) or instructions is None:
            instructions = [instructions] * len(pairs)
        if len(instructions) != len(pairs):
            raise ValueError(f"{len(instructions)} instructions for {len(pairs)} pairs")
        out = np.empty(len(pairs), dtype=np.float64)
        from tqdm.auto import tqdm

        texts = [self.pair_text(q, d, ins) for (q, d), ins in zip(pairs, instructions)]
        where = list(where) if where is not None else pair_names(len(pairs))
        truncated = 0

        def prepare(idx: list[int]) -> RerankBatch:
            return self.prepare(
                [pairs[i] for i in idx],
                [instructions[i] for i in idx],
                [where[i] for i in idx],
                [texts[i] for i in idx],
            )

        batches = plan(self.costs(pairs, texts), batch_size, self.max_tokens)
        prefetch = self.prefetch if self.prefetch is not None else self.device.type != "cpu"
        for idx, batch in tqdm(
            prepared_ahead(prepare, batches, prefetch),
            total=len(batches),
            desc="rerank",
            unit="batch",
            disable=not show_progress,
        ):
            truncated += batch.truncated
            mask = batch.inputs["attention_mask"]
            self.padding.add(mask.numel(), int(mask.sum()))
            logits = self.logits(batch).float()
            out[idx] = (logits if raw else torch.sigmoid(logits)).cpu().numpy()
        if truncated:
            self.truncated_total += truncated
            log.warning(
                "%d of %d pairs were longer than max_length=%d and were truncated",
                truncated,
                len(pairs),
                self.max_length,
            )
        return out


def pair_names(n: int) -> list[tuple[str, str]]:
    """Default names of `n` pairs' sides in error messages."""
    return [(f"pairs[{i}].query", f"pairs[{i}].document") for i in range(n)]


def field_name(item: Item, name: str) -> str:
    """`name` with the media field a read can fail on (`.video`, `.pdf`, `.image`), as the server
    names request fields."""
    field = "video" if item.has_video else "pdf" if item.pdf is not None else "image" if item.has_image else ""
    return f"{name}.{field}" if field else name
