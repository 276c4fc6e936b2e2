"""`mme5 train` with `task: rerank`: a yes/no reranker trained on the embedder's training rows.

Each micro-batch takes `per_device_batch_size` rows; a row's query is paired with its positive and
`rerank.negatives` negatives (its `neg_*` hard negatives first, then positives of the other rows of
the micro-batch), and every pair is scored through `Reranker.logits`, the exact inference path:
logit = h . (W[yes] - W[no]) at the prompt's last position.

- listwise: softmax cross-entropy over [positive, negatives] per query (target: the positive);
- pointwise: binary cross-entropy on each logit (positive 1, negatives 0).

The run is the embedder's (`run.setup`, `run.train`): the same batch plan, TrainingArguments, DDP
(torchrun) or DeepSpeed ZeRO-2, checkpoints every `save_steps`, `resume`, train_log.jsonl. Only the
step differs (`RerankTrainer.compute_loss`): the loss is the mean over the micro-batch's queries, so
HF's division by `gradient_accumulation_steps` and DDP's gradient averaging make it the mean over
the optimizer step's rows. No GradCache: each query's loss depends on its own pairs only, so a
smaller micro-batch with gradient accumulation bounds memory for the same update (in-batch
negatives then come from the smaller micro-batch; hard negatives are unaffected).

The result folder loads with `Reranker.from_pretrained` (format declared): the adapter in `lora/`
and base + adapter merged in the folder itself (`save_merged`), or the full fine-tune's weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import ConfigError
from ..provenance import write_json
from ..types import ContrastiveExample, Item
from .config import RerankSettings, TrainConfig, zero_stage
from .model import TrainedModule
from .trainer import RunTrainer, write_config

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


def validate_rerank(cfg: TrainConfig) -> str:
    """Checks of a `task: rerank` config that need no data or weights; its dry-run line."""
    r = cfg.rerank
    if r.negatives < 1 or r.max_length < 1:
        raise ConfigError("rerank.negatives and rerank.max_length must be >= 1")
    if cfg.gradcache_chunk_size is not None:
        raise ConfigError(
            "gradcache_chunk_size is for the embedder's in-batch loss; task: rerank has none to cache (each "
            "query's loss is its own): set gradcache_chunk_size=null and bound memory with a smaller "
            "per_device_batch_size and gradient_accumulation_steps"
        )
    if cfg.deepspeed and zero_stage(cfg.deepspeed) == 3:
        raise ConfigError(
            "task: rerank cannot run under DeepSpeed ZeRO-3: its score reads the LM head's yes/no rows "
            "outside the head's forward, where ZeRO-3 leaves them partitioned (empty); use zero2.json"
        )
    if r.format == "qwen3-vl-reranker" and cfg.model.backbone not in (None, "qwen3_vl"):
        raise ConfigError(f"rerank.format qwen3-vl-reranker is defined for qwen3_vl, not {cfg.model.backbone}")
    return (
        f"task rerank: {r.loss} loss over the positive + {r.negatives} negatives per query, "
        f"format {r.format or 'auto'}, pairs cut to {r.max_length} tokens"
    )


class RerankModel(TrainedModule):
    """forward(batch) -> (pairs,) yes/no logits via `Reranker.logits`; the reranker's model registered."""

    def __init__(self, reranker: Any) -> None:
        super().__init__()
        self.model = reranker.model  # the trainable one: `reranker.logits` runs it
        self.reranker = reranker

    def forward(self, batch: Any) -> torch.Tensor:
        return self.reranker.logits(batch)

    @property
    def processor(self) -> Any:
        return self.reranker.processor

    def mark(self, out: Path) -> None:
        if not self.is_peft:  # full weights: a reranker folder (an adapter folder is not one alone)
            from ..model.rerank_format import write_declaration

            write_declaration(out, self.reranker.backbone, self.reranker.format)


class RerankCollator:
    """A micro-batch of row indices -> its pairs, prepared (texts, media, processor, cut and pad)."""

    def __init__(
        self, reranker: Any, examples: Sequence[ContrastiveExample], wheres: Sequence[str], r: RerankSettings
    ) -> None:
        self.reranker, self.examples, self.wheres, self.r = reranker, examples, wheres, r

    def __call__(self, micro: list[list[int]]) -> dict[str, Any]:
        (ids,) = micro  # one planned micro-batch per loader element
        rows = [self.examples[i] for i in ids]
        lists = candidates(rows, self.r.negatives)
        pairs = [(row.query, doc) for row, docs in zip(rows, lists) for doc in docs]
        where = [
            (f"{self.wheres[i]} query", f"{self.wheres[i]} candidate {c}")
            for i, docs in zip(ids, lists)
            for c in range(len(docs))
        ]
        batch = self.reranker.prepare(pairs, [self.r.instruction] * len(pairs), where=where)
        return {"batch": batch, "widths": [len(docs) for docs in lists]}


class RerankTrainer(RunTrainer):
    """The reranker's step: the micro-batch's logits, regrouped per query -> `rerank_loss` / queries."""

    def __init__(self, *args: Any, loss: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_kind = loss
        self.truncated_pairs = 0
        """pairs this process cut to `rerank.max_length` (counted here, summed over ranks at the end)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.truncated_pairs += inputs["batch"].truncated
        flat = model(inputs["batch"]).float()
        widths = inputs["widths"]
        logits = flat.new_zeros(len(widths), max(widths))
        mask = torch.zeros(len(widths), max(widths), dtype=torch.bool, device=flat.device)
        start = 0
        for i, width in enumerate(widths):
            logits[i, :width] = flat[start : start + width]
            mask[i, :width] = True
            start += width
        loss = rerank_loss(logits, mask, self.loss_kind) / len(widths)
        return (loss, flat) if return_outputs else loss


def reranker_trainer(cfg: TrainConfig, run: Any, callbacks: list) -> RerankTrainer:
    """The reranker (base or, resuming a full fine-tune, the checkpoint) made trainable, and its
    trainer over `run`'s batch plan (`run.setup`)."""
    from ..data.collate import MicroBatches
    from ..model.loading import resolve_dtype
    from ..model.reranker import Reranker
    from .model import resolve_model_path, trainable_model

    r = cfg.rerank
    reranker = Reranker.from_pretrained(
        run.full_resume or resolve_model_path(cfg.model.name_or_path),
        fmt=r.format,
        backbone=cfg.model.backbone,
        dtype=resolve_dtype(cfg.model.dtype),
        device="cpu",  # the trainer places it: one copy per rank's device
        max_length=r.max_length,
        attn_implementation=cfg.model.attn_implementation,
    )
    reranker.model = trainable_model(reranker.model, reranker.backbone.lora_targets, cfg.model, seed=cfg.seed)
    return RerankTrainer(
        model=RerankModel(reranker),
        args=run.args,
        train_dataset=MicroBatches(run.plan.micro_batches),
        data_collator=RerankCollator(reranker, run.data.examples, run.data.wheres, r),
        callbacks=callbacks,
        run_config=run.run_config,
        examples_per_step=run.examples_per_step,
        loss=r.loss,
    )


def finish_reranker(cfg: TrainConfig, run: Any, trainer: RunTrainer, result: Any, final: Path) -> None:
    """After training (rank 0): the merged, declared reranker beside `lora/` (`save_merged`) and
    train_summary.json."""
    from ..model.loading import resolve_dtype
    from .model import resolve_model_path

    assert isinstance(trainer, RerankTrainer)
    truncated = trainer.summed_over_ranks(trainer.truncated_pairs)  # collective
    if not trainer.is_world_process_zero():
        return
    out, model = Path(cfg.output_dir), trainer.trained
    assert isinstance(model, RerankModel)
    if model.is_peft and cfg.save_merged:
        base = resolve_model_path(cfg.model.name_or_path)
        export_merged(base, final, out, model.reranker, resolve_dtype(cfg.model.dtype))
        write_config(out, run.run_config)
    losses = [x["loss"] for x in trainer.state.log_history if "loss" in x]
    write_json(
        out / "train_summary.json",
        {
            "task": "rerank",
            "steps": result.global_step,
            "train_loss": result.training_loss,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "examples": len(run.data.examples),
            "dropped_by_batching": run.plan.dropped,
            "truncated_pairs": truncated,
            "world_size": run.world,
            "seconds": round(result.metrics["train_runtime"], 1),
            "sources": run.data.report,
        },
    )
    if truncated:
        log.warning(
            "%d training pairs were longer than rerank.max_length=%d and were cut (see train_summary.json)",
            truncated,
            cfg.rerank.max_length,
        )


def export_merged(base: str, adapter_dir: Path, out: Path, trained: Any, dtype: torch.dtype) -> Path:
    """Base + adapter merged into a declared reranker folder, loadable with `Reranker.from_pretrained(out)`."""
    from ..model.rerank_format import write_declaration
    from ..model.reranker import Reranker

    merged = Reranker.from_pretrained(
        base, fmt=trained.format, backbone=trained.backbone.name, adapter=adapter_dir, dtype=dtype, device="cpu"
    )
    merged_model: Any = merged.model
    merged_model.save_pretrained(out)
    merged.processor.save_pretrained(out)
    write_declaration(out, merged.backbone, merged.format)
    return out
