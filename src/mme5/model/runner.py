"""The model side of encoding: a prepared batch -> forward (decoder stack, no LM head) -> last-token
pooling -> L2. Nothing here formats, loads media or tokenizes (mme5.model.preprocess does)."""

from __future__ import annotations

from typing import Any

import torch

from .pooling import last_token_pool, normalize
from .preprocess import Prepared


def inner_model(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack without the LM head (also through a PEFT wrapper).

    Its `last_hidden_state` equals `hidden_states[-1]` of the full model, without computing the
    vocabulary projection.
    """
    base: Any = model.get_base_model() if hasattr(model, "get_base_model") else model  # type: ignore[operator]
    return base.model


class ModelRunner:
    """Runs one loaded model on `Prepared` batches."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dim(self) -> int:
        config: Any = self.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return int(text_config.hidden_size)

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
