"""InfoNCE with in-batch targets gathered across ranks (with gradient) plus per-query hard negatives.

Every rank computes the loss over the GLOBAL batch; its own slice of each gathered tensor is put
back so gradients reach its local embeddings. The gradient each rank gets is therefore the full
dL/d(local embeddings); data-parallel averaging divides by the world size, which the training
step undoes by scaling the loss (see `gradcache.contrastive_step`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F

DEFAULT_TEMPERATURE = 0.02


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) on every rank -> (world * n, ...) in rank order; this rank's slice keeps its graph.

    All ranks must pass the same shape (the batch plan guarantees equal per-rank batches).
    """
    rank, size = world()
    if size == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x
    return torch.cat(parts)


def positive_index(n_queries: int, n_targets: int, device: torch.device | None = None) -> torch.Tensor:
    """Index of each query's positive among the targets, for any ratio of targets to queries.

    Targets grouped per query (`n_targets = m * n_queries`, positive first in each group) ->
    `i * m`; several queries per target (`n_queries = m * n_targets`) -> `i // m`.
    """
    i = torch.arange(n_queries, device=device)
    if n_targets % n_queries == 0:
        return i * (n_targets // n_queries)
    if n_queries % n_targets == 0:
        return i // (n_queries // n_targets)
    raise ValueError(f"{n_targets} targets for {n_queries} queries: one count must be a multiple of the other")


def info_nce(
    query: torch.Tensor,
    target: torch.Tensor,
    hard_negatives: torch.Tensor | None = None,
    *,
    hard_negative_mask: torch.Tensor | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    symmetric: bool = False,
    gather: bool = True,
) -> torch.Tensor:
    """Contrastive loss over L2-normalised embeddings -> scalar (mean over all gathered queries).

    query (n_q, d); target (n_t, d), the in-batch candidates, laid out as in `positive_index`;
    hard_negatives (n_q, k, d), scored only against their own query; hard_negative_mask (n_q, k)
    bool, False = padding slot. Logits are cosine / temperature. `symmetric` adds the
    target -> query direction (each query's positive against all queries) and averages the two.
    `gather=True` pools targets (and hard-negative scores) from every rank.
    """
    if query.dim() != 2 or target.dim() != 2 or query.shape[1] != target.shape[1]:
        raise ValueError(f"query {tuple(query.shape)} and target {tuple(target.shape)} must be (n, dim) with one dim")
    collect = gather_with_grad if gather else (lambda x: x)
    all_query, all_target = collect(query), collect(target)
    labels = positive_index(all_query.shape[0], all_target.shape[0], query.device)
    logits = all_query @ all_target.T
    if hard_negatives is not None:
        if hard_negatives.shape[0] != query.shape[0] or hard_negatives.shape[-1] != query.shape[1]:
            raise ValueError(f"hard_negatives {tuple(hard_negatives.shape)} must be (n_q={query.shape[0]}, k, dim)")
        # scores are computed locally and gathered: k numbers per query instead of k vectors
        negative_scores = torch.einsum("qd,qkd->qk", query, hard_negatives)
        if hard_negative_mask is not None:
            negative_scores = negative_scores.masked_fill(~hard_negative_mask, float("-inf"))
        logits = torch.cat([logits, collect(negative_scores)], dim=1)
    loss = F.cross_entropy(logits / temperature, labels)
    if symmetric:
        if all_query.shape[0] > all_target.shape[0]:
            raise ValueError("symmetric loss needs one positive per query (targets >= queries)")
        reverse = all_target[labels] @ all_query.T
        loss = (loss + F.cross_entropy(reverse / temperature, torch.arange(len(labels), device=query.device))) / 2
    return loss


def matryoshka(
    loss_fn: Callable[..., torch.Tensor], dims: Sequence[int | None], weights: Sequence[float] | None = None
) -> Callable[..., torch.Tensor]:
    """Matryoshka representation learning (Kusupati et al. 2022): `loss_fn` applied to every
    L2-normalised prefix of the query, target and hard-negative vectors (None = the whole vector),
    summed with `weights` (default 1 each). The prefixes then serve as smaller embeddings."""
    weights = list(weights) if weights else [1.0] * len(dims)
    if len(weights) != len(dims):
        raise ValueError(f"{len(weights)} matryoshka weights for {len(dims)} dims")

    def prefix(x: torch.Tensor | None, dim: int | None) -> torch.Tensor | None:
        if x is None or dim is None or dim >= x.shape[-1]:
            return x
        return F.normalize(x[..., :dim], dim=-1)

    def loss(query: torch.Tensor, target: torch.Tensor, hard_negatives: torch.Tensor | None = None, **kwargs):
        for dim in dims:
            if dim is not None and dim > query.shape[-1]:
                raise ValueError(f"matryoshka dim {dim} exceeds the embedding dim {query.shape[-1]}")
        parts = [
            w * loss_fn(prefix(query, d), prefix(target, d), prefix(hard_negatives, d), **kwargs)
            for d, w in zip(dims, weights)
        ]
        return torch.stack(parts).sum()

    return loss


def distill_kl(
    query: torch.Tensor,
    positive: torch.Tensor,
    hard_negatives: torch.Tensor,
    hard_negative_mask: torch.Tensor,
    teacher: torch.Tensor,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    teacher_temperature: float = 1.0,
) -> torch.Tensor:
    """KL(teacher || embedder) over each query's own candidates [positive, hard negatives], mean
    over the queries that have teacher scores (NaN rows have none).

    query, positive (n, d); hard_negatives (n, k, d); hard_negative_mask (n, k); teacher (n, 1 + k)
    reranker logits. Embedder logits are cosine / `temperature`, teacher logits / `teacher_temperature`.
    """
    student = torch.cat(
        [(query * positive).sum(-1, keepdim=True), torch.einsum("qd,qkd->qk", query, hard_negatives)], 1
    )
    valid = torch.cat([torch.ones_like(hard_negative_mask[:, :1]), hard_negative_mask], 1) & ~teacher.isnan()
    rows = valid[:, 0]
    if not rows.any():
        return query.sum() * 0.0
    log_student = F.log_softmax((student / temperature).masked_fill(~valid, float("-inf")), dim=1)
    log_teacher = F.log_softmax(
        (teacher.nan_to_num(0.0) / teacher_temperature).masked_fill(~valid, float("-inf")), dim=1
    )
    terms = torch.where(valid, log_teacher.exp() * (log_teacher - log_student), torch.zeros_like(student))
    return terms.sum(1)[rows].mean()


def info_nce_with_distillation(
    query: torch.Tensor,
    target: torch.Tensor,
    hard_negatives: torch.Tensor | None = None,
    *,
    hard_negative_mask: torch.Tensor | None = None,
    teacher: torch.Tensor | None = None,
    distill_weight: float = 0.0,
    teacher_temperature: float = 1.0,
    temperature: float = DEFAULT_TEMPERATURE,
    symmetric: bool = False,
) -> torch.Tensor:
    """`info_nce` + `distill_weight` x `distill_kl` (when the batch carries teacher scores). The
    KL term is computed on this rank's queries (each against its own candidates)."""
    loss = info_nce(
        query,
        target,
        hard_negatives,
        hard_negative_mask=hard_negative_mask,
        temperature=temperature,
        symmetric=symmetric,
    )
    if teacher is None or distill_weight == 0 or hard_negatives is None or hard_negative_mask is None:
        return loss
    positive = target[positive_index(query.shape[0], target.shape[0], query.device)]
    kl = distill_kl(
        query,
        positive,
        hard_negatives,
        hard_negative_mask,
        teacher,
        temperature=temperature,
        teacher_temperature=teacher_temperature,
    )
    return loss + distill_weight * kl
