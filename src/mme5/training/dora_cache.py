"""DoRA's column norm ||W + s·BA|| computed once per layer per training step.

DoRA treats the norm as a constant (no gradient flows through it, section 4.3 of the paper) and
peft recomputes it, and the product BA it needs, on EVERY forward call. Within one optimizer step
the weights do not change, so GradCache's many chunk forwards (and gradient checkpointing's
re-forwards) can share one value: identical numbers, a fraction of the work. peft's own DoRA
cache works only in eval mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_EMPTY = torch.empty(0)


@contextlib.contextmanager
def shared_dora_norms(model: torch.nn.Module) -> Iterator[int]:
    """Within the block, each DoRA layer computes its weight norm once; yields the layer count.

    Use only while the weights are fixed (one optimizer step). A no-op without DoRA layers.
    """
    try:
        from peft.tuners.lora.dora import DoraLinearLayer
    except ImportError:  # peft not installed: nothing to share
        yield 0
        return
    layers = [m for m in model.modules() if isinstance(m, DoraLinearLayer)]
    for layer in layers:
        _patch(layer)
    try:
        yield len(layers)
    finally:
        for layer in layers:  # instance attributes shadowed the class methods: drop them
            del layer.get_weight_norm, layer.get_lora_weight


def _patch(layer) -> None:
    norms: dict = {}
    compute_norm, compute_lora_weight = layer.get_weight_norm, layer.get_lora_weight

    def get_lora_weight(*args, adapter_name=None, **kwargs):
        # BA feeds only the (detached) norm: once the norm is known, skip materialising it; build it
        # without a graph either way, so a checkpointed re-forward saves the same tensors as the first
        if adapter_name is not None and adapter_name in norms:
            return _EMPTY
        with torch.no_grad():
            return compute_lora_weight(*args, adapter_name=adapter_name, **kwargs)

    def get_weight_norm(*args, adapter_name=None, **kwargs):
        if adapter_name is None:
            return compute_norm(*args, adapter_name=adapter_name, **kwargs)
        if adapter_name not in norms:
            with torch.no_grad():
                norms[adapter_name] = compute_norm(*args, adapter_name=adapter_name, **kwargs)
        return norms[adapter_name]

    layer.get_lora_weight, layer.get_weight_norm = get_lora_weight, get_weight_norm
