"""The Reranker: P(yes) that a document answers a query, read from a vision-language LLM.

score = sigmoid(h . (W[yes] - W[no])), with h the decoder's last hidden state (after the final
norm) at the last position of the left-padded pair and W the LM head: the published
Qwen3-VL-Reranker computation (spec qwen3_vl_family.md §5), for any registry backbone. The pair's
text comes from `mme5.model.rerank_format`, its tensors from `mme5.model.rerank_inputs`.

The publishers score one pair per forward; here pairs are batched by length (fewer pad tokens)
and left-padded, which does not change a score (tested to 1e-5).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..media import load_frames, page_item
from ..types import InputError, Item, load_image, parse_item
from .backbones import Backbone
from .embedder import inner_model
from .loading import load_checkpoint, resolve_backbone
from .rerank_format import ANSWER_TOKENS, QWEN3_VL_RERANKER, conversation, detect_format, generation_tail, render
from .rerank_inputs import MAX_FRAMES, MAX_LENGTH, cut_and_pad, qwen_image, special_ids
from .video import apply_fallback

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
    ) -> None:
        self.model = model
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
        return cls(model, processor, spec, fmt=fmt, max_length=max_length, fingerprint=fp)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- text and inputs ------------------------------------------------------------------
    def pair_text(self, query: Item, document: Item, instruction: str | None = None) -> str:
        """The exact text the model reads for a pair (before the processor expands media)."""
        instruction = instruction or query.instruction
        return render(self.format, self.processor, self.backbone, conversation(query, document, instruction))

    def prepare(
        self, pairs: Sequence[Pair], instructions: Sequence[str | None], where: Sequence[str] | None = None
    ) -> RerankBatch:
        """Texts, media and the processor for one batch, then truncation and left padding."""
        where = list(where) if where is not None else [f"pair {i}" for i in range(len(pairs))]
        texts: list[str] = []
        images: list[list] = []
        videos: list[list] = []
        for (query, document), instruction, name in zip(pairs, instructions, where):
            sides, frames = self._media([query, document], [f"{name} query", f"{name} document"])
            texts.append(self.pair_text(sides[0], sides[1], instruction))
            images.append([self._image(s, f"{name} {n}") for s, n in zip(sides, ("query", "document")) if s.has_image])
            videos.extend(f for f in frames if f is not None)
        inputs = self._process(texts, images, videos)
        pad = self.tokenizer.pad_token_id
        inputs, cut = cut_and_pad(inputs, self.tail_ids, self.max_length, self.special_ids, pad)
        return RerankBatch(inputs=inputs, truncated=cut)

    def _process(self, texts: list[str], images: list[list], videos: list) -> dict[str, torch.Tensor]:
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(images):
            kwargs["images"] = images if self.backbone.nested_images else [i for row in images for i in row]
            if self.format == QWEN3_VL_RERANKER:
                kwargs["do_resize"] = False  # sized as the publishers do (rerank_inputs.qwen_image)
        if videos:
            kwargs["videos"] = videos
        inputs = dict(self.processor(**kwargs))
        inputs.pop("token_type_ids", None)
        return inputs

    def _media(self, sides: list[Item], where: list[str]) -> tuple[list[Item], list]:
        """PDF pages rendered, videos as frames: up to 64 frames as the publishers sample them, or
        the Embedder's rule (native video or the middle frame) in the mme5 format."""
        if self.format != QWEN3_VL_RERANKER:
            return apply_fallback(sides, self.backbone, where)
        sides = [page_item(s, w) if s.pdf is not None else s for s, w in zip(sides, where)]
        frames = []
        for side, name in zip(sides, where):
            if side.has_video and side.has_image:
                raise InputError(f"{name}: an item takes an image or a video, not both")
            frames.append(load_frames(side.video, name, MAX_FRAMES) if side.has_video else None)  # type: ignore[arg-type]
        return sides, frames

    def _image(self, item: Item, where: str):
        if self.format == QWEN3_VL_RERANKER:
            ip = self.processor.image_processor
            return qwen_image(item.image, where, ip.patch_size * ip.merge_size)  # type: ignore[arg-type]
        img = load_image(item.image, where)  # type: ignore[arg-type]
        side = self.backbone.min_image_side  # the Embedder's rule for families with a minimum side
        return img if min(img.size) >= side else img.resize((max(img.width, side), max(img.height, side)))

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
        return self.score_pairs([(q, d) for d in docs], instruction, batch_size=batch_size).tolist()

    @torch.no_grad()
    def score_pairs(
        self,
        pairs: Sequence[Pair],
        instructions: str | None | Sequence[str | None] = None,
        *,
        batch_size: int = 16,
        show_progress: bool = False,
        raw: bool = False,
    ) -> np.ndarray:
        """(n,) float64 scores of many pairs (e.g. every query's candidates): length-bucketed
        batches of `batch_size`, each score independent of its batch neighbours. `raw`: the
        logits h . (W[yes] - W[no]) instead of P(yes) (distillation targets)."""
        if isinstance(instructions, str) or instructions is None:
            instructions = [instructions] * len(pairs)
        if len(instructions) != len(pairs):
            raise ValueError(f"{len(instructions)} instructions for {len(pairs)} pairs")
        out = np.empty(len(pairs), dtype=np.float64)
        from tqdm.auto import tqdm

        batches = self.plan_batches(pairs, instructions, batch_size)
        truncated = 0
        for idx in tqdm(batches, desc="rerank", unit="batch", disable=not show_progress):
            batch = self.prepare([pairs[i] for i in idx], [instructions[i] for i in idx], [f"pair {i}" for i in idx])
            truncated += batch.truncated
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

    def plan_batches(
        self, pairs: Sequence[Pair], instructions: Sequence[str | None], batch_size: int
    ) -> list[list[int]]:
        """Pair indices in batches that pad alike: one media signature per batch (which sides
        carry an image or a video; Mllama's text-only rows must never share a batch with image
        rows, see `Prepared`), sorted by text length within it."""
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for i, (query, document) in enumerate(pairs):
            media = tuple((s.has_image or s.pdf is not None, s.has_video) for s in (query, document))
            text = self.pair_text(query, document, instructions[i])
            groups.setdefault(media, []).append((len(self.tokenizer(text, add_special_tokens=False).input_ids), i))
        batches = []
        for media in sorted(groups):
            order = [i for _, i in sorted(groups[media])]
            batches += [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        return batches
