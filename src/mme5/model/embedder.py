"""The Embedder: the facade over one encode path, a `Preprocessor` (format once, tokenize once,
batches planned by what they pad, media, the processor) and a `ModelRunner` (forward, last-token
pool, L2), shared by training, evaluation, serving, index builds and exports."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..media_policy import DEFAULT_POLICY, MediaPolicy
from ..types import InputError, Item, parse_item
from .backbones import Backbone
from .loading import ensure_tiny, load_checkpoint, resolve_backbone
from .planning import PaddingCounter, prepared_ahead
from .preprocess import Formatted, Prepared, Preprocessor
from .profiles import profiled_fingerprint, resolve_profile
from .runner import ModelRunner, inner_model

log = logging.getLogger(__name__)

__all__ = ["Embedder", "Prepared", "Preprocessor", "inner_model", "load_embedder"]


class Embedder:
    """Encode items (instruction + text + image / video / PDF page) into L2-normalised vectors."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor: Any,
        backbone: Backbone,
        *,
        max_length: int = 256,
        fingerprint: str = "",
        profile: str | None = None,
        media_policy: MediaPolicy = DEFAULT_POLICY,
        preprocessor: Preprocessor | None = None,
    ) -> None:
        self.preprocessor = preprocessor or Preprocessor(
            processor, backbone, max_length=max_length, profile=profile, media_policy=media_policy
        )
        self.runner = ModelRunner(model)
        self.model = model
        self._fingerprint = fingerprint
        self.truncated_total = 0
        self.padding = PaddingCounter()
        self.prefetch: bool | None = None
        """Prepare batch n+1 in a thread while the model runs batch n (`encode`). None: when the model
        runs on an accelerator; on CPU the forward already uses every core (P1: 0.98x with it)."""

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
        media_policy: MediaPolicy = DEFAULT_POLICY,
        max_tokens: int | None = None,
    ) -> Embedder:
        """Load a local folder or hub id (real `from_pretrained`), optionally merging a LoRA adapter
        (`mme5.model.loading`: backbone detection, folder checks, dtype; fingerprint from the files),
        reading media within `media_policy` (mme5.media_policy). `profile` (mme5.model.profiles) None:
        the one the checkpoint calls for (`detect_profile`); `max_length` None: the profile's (256
        for mme5's, 8,192 for qwen3-vl-embedding); `max_tokens`: padded token positions a batch may
        hold (`--max-batch-tokens`; None: `batch_size` alone bounds a batch)."""
        spec = resolve_backbone(model_name_or_path, backbone)
        chosen, max_length = resolve_profile(model_name_or_path, spec.name, profile, max_length, adapter)
        model, processor, fp = load_checkpoint(
            model_name_or_path,
            spec,
            adapter=adapter,
            dtype=dtype,
            device=device,
            attn_implementation=attn_implementation,
            max_length=max_length,
        )
        embedder = cls(
            model,
            processor,
            spec,
            max_length=max_length,
            fingerprint=fp,
            profile=chosen.name,
            media_policy=media_policy,
        )
        embedder.max_tokens = max_tokens
        return embedder

    def with_profile(self, profile: str | None) -> Embedder:
        """An Embedder over the same weights under another formatting profile (this one unchanged)."""
        return Embedder(
            self.model,
            self.processor,
            self.backbone,
            fingerprint=self._fingerprint,
            preprocessor=self.preprocessor.with_profile(profile),
        )

    # ---- what the parts say ----------------------------------------------------------------
    @property
    def processor(self) -> Any:
        return self.preprocessor.processor

    @property
    def tokenizer(self) -> Any:
        return self.preprocessor.tokenizer

    @property
    def backbone(self) -> Backbone:
        return self.preprocessor.backbone

    @property
    def max_length(self) -> int:
        return self.preprocessor.max_length

    @property
    def profile(self) -> str:
        """Input formatting profile (mme5.model.profiles), fixed when the model is loaded."""
        return self.preprocessor.profile

    @property
    def media_policy(self) -> MediaPolicy:
        """Limits on reading images, videos and PDF pages (`mme5 embed --media-limit` sets them)."""
        return self.preprocessor.media_policy

    @media_policy.setter
    def media_policy(self, policy: MediaPolicy) -> None:
        self.preprocessor.media_policy = policy

    @property
    def max_tokens(self) -> int | None:
        """Padded token positions a batch may hold (a longer item still runs alone); None: no budget."""
        return self.preprocessor.max_tokens

    @max_tokens.setter
    def max_tokens(self, budget: int | None) -> None:
        self.preprocessor.max_tokens = budget

    @property
    def device(self) -> torch.device:
        return self.runner.device

    @property
    def fingerprint(self) -> str:
        """Identifies weights + formatting + max_length; keys the evaluation embedding cache."""
        return profiled_fingerprint(self._fingerprint, self.profile)

    @property
    def video_mode(self) -> str:
        """`native`, or `middle-frame`: the off-protocol fallback of image-only backbones (name it in results)."""
        return self.preprocessor.video_mode

    @property
    def dim(self) -> int:
        return self.runner.dim

    # ---- the encode path -----------------------------------------------------------------
    def prepare(self, items: Sequence[Item], where: Sequence[str] | None = None, *, lockstep: bool = False) -> Prepared:
        """`Preprocessor.prepare`: media and the processor for one batch."""
        return self.preprocessor.prepare(items, where, lockstep=lockstep)

    def forward(self, prepared: Prepared) -> torch.Tensor:
        """`ModelRunner.forward`: (batch, dim) L2-normalised embeddings (keeps the autograd graph)."""
        return self.runner.forward(prepared)

    @torch.no_grad()
    def encode(
        self,
        items: Sequence[Item | dict | str],
        batch_size: int = 16,
        *,
        show_progress: bool | None = None,
        where: Sequence[str] | None = None,
        max_tokens: int | None = None,
    ) -> np.ndarray:
        """Items -> (n, dim) float32, L2-normalised, row i = item i. Batches hold items of similar
        processed length (`Preprocessor.plan`): at most `batch_size` rows and `max_tokens` padded
        positions. `where` names each item in errors (e.g. "items.jsonl:4"; default "item i")."""
        return self.encode_with_usage(
            items, batch_size, show_progress=show_progress, where=where, max_tokens=max_tokens
        )[0]

    @torch.no_grad()
    def encode_with_usage(
        self,
        items: Sequence[Item | dict | str],
        batch_size: int = 16,
        *,
        show_progress: bool | None = None,
        where: Sequence[str] | None = None,
        max_tokens: int | None = None,
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
        formatted = self.preprocessor.format(parsed)
        batches = self.preprocessor.plan(parsed, batch_size, max_tokens, formatted)
        progress = show_progress if show_progress is not None else len(batches) > 8
        truncated = 0
        bar = tqdm(total=len(parsed), desc="encode", unit="item", disable=not progress)
        for idx, prepared in self._prepared(parsed, where, formatted, batches):
            truncated += prepared.truncated
            self.padding.add(*prepared.positions(), forwards=len(prepared.parts))
            out[idx] = self.forward(prepared).cpu().numpy()
            tokens[idx] = prepared.token_counts()
            bar.update(len(idx))
        bar.close()
        if truncated:
            self.truncated_total += truncated
            log.warning(
                "%d of %d texts were longer than max_length=%d tokens and were truncated",
                truncated,
                len(parsed),
                self.max_length,
            )
        return out, tokens

    def _prepared(
        self, items: list[Item], where: list[str], formatted: list[Formatted], batches: list[list[int]]
    ) -> Iterator[tuple[list[int], Prepared]]:
        """(indices, Prepared) per batch; with `prefetch`, batch n+1 is prepared while n runs."""

        def prepare(idx: list[int]) -> Prepared:
            return self.preprocessor.prepare(
                [items[i] for i in idx], [where[i] for i in idx], formatted=[formatted[i] for i in idx]
            )

        prefetch = self.prefetch if self.prefetch is not None else self.device.type != "cpu"
        yield from prepared_ahead(prepare, batches, prefetch)


def load_embedder(model: str | Path | None = None, **kwargs: Any) -> Embedder:
    """`model` None -> the embedded tiny Mllama (random weights); else a local folder or hub id.
    `kwargs` go to `Embedder.from_pretrained` (adapter, backbone, dtype, device, max_length, profile...)."""
    return Embedder.from_pretrained(model or ensure_tiny(), **kwargs)
