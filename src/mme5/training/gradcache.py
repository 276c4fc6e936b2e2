"""One contrastive training step, plain or with GradCache (Gao et al. 2021), chunked by examples.

GradCache: (1) embed every chunk without a graph, saving the RNG state before each; (2) compute
the loss on the detached embeddings and back-propagate it to them only (cheap: no model);
(3) re-embed each chunk WITH a graph under its saved RNG state (same dropout masks) and
back-propagate `sum(embedding * cached_gradient)`. Parameter gradients equal the full-batch ones
while activation memory is bounded by the chunk size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..data.collate import Chunk
from .dora_cache import shared_dora_norms
from .losses import info_nce

LossFn = Callable[..., torch.Tensor]
Backward = Callable[[torch.Tensor, bool], None]
"""backward(loss, is_last): is_last is False for every GradCache chunk but the last."""


@dataclass
class RngState:
    """CPU (and current CUDA device) RNG state, captured before a forward and replayed for its
    re-computation so dropout draws the same masks."""

    cpu: torch.Tensor
    cuda: torch.Tensor | None
    device: torch.device

    @classmethod
    def capture(cls, device: torch.device) -> RngState:
        cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        return cls(torch.get_rng_state(), cuda, device)

    @contextlib.contextmanager
    def replay(self):
        devices = [self.device] if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):  # the caller's RNG stream is left untouched
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            yield


def embed_chunk(model: torch.nn.Module, chunk: Chunk) -> tuple[torch.Tensor, ...]:
    """-> (queries (c, d), positives (c, d), negatives (n_neg, d) if any) in ONE model call, so
    DDP/DeepSpeed see one forward per backward."""
    return tuple(model(*chunk.prepared()))


def assemble(chunks: Sequence[Chunk], outputs: Sequence[Sequence[torch.Tensor]]):
    """Chunk outputs -> (query (B, d), positive (B, d), hard negatives (B, K, d) or None, mask (B, K))."""
    query = torch.cat([o[0] for o in outputs])
    positive = torch.cat([o[1] for o in outputs])
    mask = torch.cat([c.negative_mask for c in chunks]).to(query.device)
    if mask.shape[1] == 0:
        return query, positive, None, None
    negatives = query.new_zeros(*mask.shape, query.shape[1])
    flat = [o[2] for o in outputs if len(o) > 2]
    if flat:
        negatives = negatives.masked_scatter(mask.unsqueeze(-1), torch.cat(flat))
    return query, positive, negatives, mask


def batch_loss(chunks: Sequence[Chunk], outputs, loss_fn: LossFn) -> torch.Tensor:
    query, positive, negatives, mask = assemble(chunks, outputs)
    if all(c.teacher is not None for c in chunks):  # distillation targets (mme5 mine --teacher-scores)
        teacher = torch.cat([c.teacher for c in chunks]).to(query.device)  # type: ignore[misc]
        return loss_fn(query, positive, negatives, hard_negative_mask=mask, teacher=teacher)
    return loss_fn(query, positive, negatives, hard_negative_mask=mask)


def contrastive_step(
    model: torch.nn.Module,
    chunks: Sequence[Chunk],
    *,
    loss_fn: LossFn = info_nce,
    backward: Backward,
    no_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    scale: float = 1.0,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Forward + backward of one micro-batch; returns the (unscaled, detached) loss.

    One chunk = the plain full-batch computation. `scale` multiplies what is back-propagated
    (world size / gradient-accumulation steps). `no_sync` silences DDP's gradient all-reduce for
    all but the last chunk's backward.
    """
    with shared_dora_norms(model):  # the weights are fixed for the whole step
        if len(chunks) == 1:
            loss = batch_loss(chunks, [embed_chunk(model, chunks[0])], loss_fn)
            backward(loss * scale, True)
            return loss.detach()
        return _gradcache(model, chunks, loss_fn, backward, no_sync, scale, device)


def _gradcache(model, chunks, loss_fn, backward, no_sync, scale, device) -> torch.Tensor:
    """The three GradCache phases of the module docstring over several chunks."""
    device = device or next(model.parameters()).device
    states, cached = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(RngState.capture(device))
            cached.append([o.detach().requires_grad_() for o in embed_chunk(model, chunk)])
    loss = batch_loss(chunks, cached, loss_fn)
    (loss * scale).backward()  # reaches only the detached embeddings: no parameter is touched
    for i, (chunk, outs, state) in enumerate(zip(chunks, cached, states)):
        last = i == len(chunks) - 1
        with contextlib.nullcontext() if last else no_sync(), state.replay():
            fresh = embed_chunk(model, chunk)
            surrogate = sum(torch.sum(f * o.grad) for f, o in zip(fresh, outs) if o.grad is not None)
            backward(surrogate, last)
    return loss.detach()
