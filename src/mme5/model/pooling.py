"""Last-token pooling: the embedding is the final hidden state of the last non-pad token."""

from __future__ import annotations

import torch


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, seq, dim), (batch, seq) -> (batch, dim); correct for left and right padding."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.to(positions.dtype) * positions).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def normalize(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise along the last dimension: (batch, dim) -> (batch, dim)."""
    return torch.nn.functional.normalize(x, p=2, dim=-1)
