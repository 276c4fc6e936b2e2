"""`mme5 train` with `task: rerank`: a yes/no reranker trained on the embedder's training rows.

Each step takes `per_device_batch_size` rows; a row's query is paired with its positive and
`rerank.negatives` negatives (its `neg_*` hard negatives first, then positives of other rows in the
batch), and every pair is scored through `Reranker.logits`, the exact inference path:
logit = h . (W[yes] - W[no]) at the prompt's last position.

- listwise: softmax cross-entropy over [positive, negatives] per query (target: the positive);
- pointwise: binary cross-entropy on each logit (positive 1, negatives 0).

The adapter is LoRA (or a full fine-tune) set up as for the embedder (`trainable_model`). One
process (CPU or one GPU), a plain loop with the HF scheduler and gradient clipping; pairs are run in
chunks of `gradcache_chunk_size` queries (gradients accumulated: both losses are per-query sums).
No checkpoint resume. The result folder loads with `Reranker.from_pretrained` (format declared).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import ConfigError, to_dict
from ..provenance import write_json
from ..types import ContrastiveExample, Item
from .config import TrainConfig
from .trainer import LOG_FILE, write_config

log = logging.getLogger(__name__)


def rerank_loss(logits: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """(queries, 1 + k) logits, column 0 the positive, `mask` marking real candidates -> the loss
    summed over queries (pointwise: each query's mean over its pairs)."""
    if kind == "listwise":
        target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits.masked_fill(~mask, float("-inf")), target, reduction="sum")
    target = torch.zeros_like(logits)
    target[:, 0] = 1.0
    per_pair = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return ((per_pair * mask).sum(dim=1) / mask.sum(dim=1)).sum()


def candidates(batch: Sequence[ContrastiveExample], k: int) -> list[list[Item]]:
    """Per row: [positive, up to k negatives]: its hard negatives, then other rows' positives
    (never one equal to its own positive)."""
    out = []
    for i, example in enumerate(batch):
        negatives = list(example.hard_negatives[:k])
        others = [e.positive for j, e in enumerate(batch) if j != i and e.positive != example.positive]
        negatives += others[: k - len(negatives)]
        out.append([example.positive, *negatives])
    return out


def batches(n: int, size: int, steps: int, seed: int) -> Iterator[list[int]]:
    """`steps` batches of `size` row indices: epoch after epoch, each in a fresh shuffled order."""
    rng = random.Random(seed)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        for s in range(0, n - size + 1, size):
            yield order[s : s + size]
            steps -= 1
            if steps == 0:
                return


def validate_rerank(cfg: TrainConfig) -> str:
    """Checks of a `task: rerank` config that need no data or weights; its dry-run line."""
    r = cfg.rerank
    if r.negatives < 1 or r.max_length < 1:
        raise ConfigError("rerank.negatives and rerank.max_length must be >= 1")
    if cfg.deepspeed or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("task: rerank trains in one process (no deepspeed, no torchrun)")
    if r.format == "qwen3-vl-reranker" and cfg.model.backbone not in (None, "qwen3_vl"):
        raise ConfigError(f"rerank.format qwen3-vl-reranker is defined for qwen3_vl, not {cfg.model.backbone}")
    return (
        f"task rerank: {r.loss} loss over the positive + {r.negatives} negatives per query, "
        f"format {r.format or 'auto'}, pairs cut to {r.max_length} tokens, one process"
    )


def train_reranker(cfg: TrainConfig) -> Path:
    """Train, then write the adapter (`lora/`) and a merged, declared reranker to `output_dir`."""
    from transformers import get_scheduler, set_seed

    from ..data.mixture import load_mixture
    from ..model.loading import resolve_device
    from ..model.rerank_format import write_declaration
    from ..model.reranker import Reranker
    from .model import resolve_model_path, trainable_model

    validate_rerank(cfg)  # the common checks ran in `run.train`, which dispatches here
    r = cfg.rerank
    set_seed(cfg.seed)
    data = load_mixture(cfg.data, seed=cfg.seed)
    if len(data.examples) < cfg.per_device_batch_size:
        raise ConfigError(f"{len(data.examples)} rows cannot fill one batch of {cfg.per_device_batch_size}")
    device = resolve_device(None)
    base = resolve_model_path(cfg.model.name_or_path)
    reranker = Reranker.from_pretrained(
        base, fmt=r.format, backbone=cfg.model.backbone, dtype=cfg.model.dtype, device=device, max_length=r.max_length
    )
    reranker.model = trainable_model(reranker.model, reranker.backbone.lora_targets, cfg.model, seed=cfg.seed)
    params = [p for p in reranker.model.parameters() if p.requires_grad]
    steps = cfg.max_steps or max(1, int(len(data.examples) * cfg.epochs) // cfg.per_device_batch_size)
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else int(cfg.warmup_ratio * steps)
    scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=steps)
    out = Path(cfg.output_dir)
    write_config(out, to_dict(cfg))
    chunk = cfg.gradcache_chunk_size or cfg.per_device_batch_size
    losses: list[float] = []
    t0 = time.perf_counter()
    for step, ids in enumerate(batches(len(data.examples), cfg.per_device_batch_size, steps, cfg.seed), 1):
        rows = [data.examples[i] for i in ids]
        total = 0.0
        for s in range(0, len(rows), chunk):
            total += _chunk_backward(reranker, rows[s : s + chunk], r, len(rows))
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(total)
        if step % cfg.logging_steps == 0 or step == 1 or step == steps:
            _log(out, {"step": step, "loss": round(total, 6), "learning_rate": scheduler.get_last_lr()[0]})
    model: Any = reranker.model
    if hasattr(model, "peft_config"):
        model.save_pretrained(out / "lora")
        reranker.processor.save_pretrained(out / "lora")
        model = model.merge_and_unload() if cfg.save_merged else None
    if model is not None:
        model.save_pretrained(out)
        reranker.processor.save_pretrained(out)
        write_declaration(out, reranker.backbone, reranker.format)
    write_json(
        out / "train_summary.json",
        {
            "task": "rerank",
            "steps": steps,
            "train_loss": sum(losses) / len(losses),
            "first_loss": losses[0],
            "last_loss": losses[-1],
            "examples": len(data.examples),
            "seconds": round(time.perf_counter() - t0, 1),
            "sources": data.report,
        },
    )
    return out


def _chunk_backward(reranker: Any, rows: list[ContrastiveExample], r: Any, batch_rows: int) -> float:
    """Loss of a chunk of rows (divided by the batch's row count), back-propagated; its value."""
    lists = candidates(rows, r.negatives)
    width = max(len(c) for c in lists)
    pairs = [(row.query, doc) for row, docs in zip(rows, lists) for doc in docs]
    batch = reranker.prepare(pairs, [r.instruction] * len(pairs))
    flat = reranker.logits(batch).float()
    logits = flat.new_zeros(len(rows), width)
    mask = torch.zeros(len(rows), width, dtype=torch.bool, device=flat.device)
    start = 0
    for i, docs in enumerate(lists):
        logits[i, : len(docs)] = flat[start : start + len(docs)]
        mask[i, : len(docs)] = True
        start += len(docs)
    loss = rerank_loss(logits, mask, r.loss) / batch_rows
    loss.backward()
    return float(loss.detach())


def _log(out: Path, record: dict) -> None:
    log.info("step %d: loss %.4f", record["step"], record["loss"])
    with (out / LOG_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({**record, "time": round(time.time(), 3)}) + "\n")
