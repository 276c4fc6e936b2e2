"""The reranker's special-token-preserving truncation with left padding (spec qwen3_vl_family.md
§5), applied to a processor batch. Media are sized as for Qwen3-VL-Embedding (mme5.model.qwen_vision).

Kept apart from the Reranker so the truncation and padding rules can be read (and tested) alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

MAX_LENGTH = 10240
"""Tokens a pair keeps before its generation prompt (the publishers' `max_length`)."""


def special_ids(tokenizer: Any) -> set[int]:
    """Every special token id: the listed ones and every added token flagged special (transformers 5
    lists only a few in `all_special_ids`; the chat and vision tokens are flagged, not listed)."""
    flagged = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    return flagged | set(tokenizer.all_special_ids)


def kept_positions(ids: Sequence[int], max_length: int, tail: int, special: set[int]) -> list[int]:
    """Indices into `ids` to keep: the last `tail` ids (the generation prompt) and the rest cut to
    `max_length`, every special id kept and the latest non-special ids dropped first (the
    publishers' rule)."""
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
    """Truncate every row of a processor batch (`kept_positions`) and left-pad the batch again.

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
