"""`mme5 train`: config -> data plan -> model -> HF Trainer -> checkpoints and a loadable model.
The setup and the run are shared by both tasks; the embedder's trainer and outputs are here, the
reranker's in rerank.py."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, diff_configs, to_dict
from ..prompts import model_prompts, write_prompts
from ..provenance import write_json
from .config import RESUME_SAFE_KEYS, TrainConfig, zero_stage
from .losses import info_nce_with_distillation, matryoshka
from .trainer import CONFIG_FILE, LOG_FILE, ContrastiveTrainer, JsonlLogger, RunTrainer, write_config

log = logging.getLogger(__name__)


def validate(cfg: TrainConfig) -> None:
    """Checks that need no data or model; errors name the key."""
    checks = [
        (cfg.per_device_batch_size >= 1, "per_device_batch_size must be >= 1"),
        (cfg.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
        (
            cfg.gradcache_chunk_size is None or cfg.gradcache_chunk_size >= 1,
            "gradcache_chunk_size must be >= 1 or null",
        ),
        (0 <= cfg.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
        (cfg.warmup_steps is None or cfg.warmup_steps >= 0, "warmup_steps must be >= 0 or null"),
        (cfg.data.image_cache_mb >= 0, "data.image_cache_mb must be >= 0"),
        (cfg.temperature > 0, "temperature must be > 0"),
        (cfg.distill_weight >= 0 and cfg.distill_temperature > 0, "distill_weight >= 0, distill_temperature > 0"),
        (
            cfg.distill_weight == 0 or cfg.data.negative_ratio > 0,
            "distill_weight > 0 needs data.negative_ratio > 0 (the teacher scores the hard negatives)",
        ),
        (cfg.max_steps is None or cfg.max_steps >= 1, "max_steps must be >= 1 or null"),
        (cfg.epochs > 0, "epochs must be > 0"),
        (cfg.data.negative_ratio >= 0, "data.negative_ratio must be >= 0"),
        (cfg.deepspeed is None or Path(cfg.deepspeed).is_file(), f"deepspeed: config file not found: {cfg.deepspeed}"),
        (all(d == "full" or d >= 1 for d in cfg.matryoshka_dims), "matryoshka_dims: each must be >= 1 or full"),
        (
            not cfg.matryoshka_weights or len(cfg.matryoshka_weights) == len(cfg.matryoshka_dims),
            f"matryoshka_weights: {len(cfg.matryoshka_weights)} weights for {len(cfg.matryoshka_dims)} matryoshka_dims",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if cfg.deepspeed and cfg.gradcache_chunk_size and cfg.gradient_accumulation_steps > 1:
        raise ConfigError(
            "deepspeed with gradcache_chunk_size and gradient_accumulation_steps > 1 is refused: under ZeRO-2 "
            "its gradients diverge from one process from the third step (tiny-model check: grad norm 128.6 vs "
            "136.7; DeepSpeed with accumulation but without GradCache, and with GradCache but without "
            "accumulation, both match). Enlarge per_device_batch_size instead of accumulating (GradCache "
            "keeps memory flat) or drop gradcache_chunk_size."
        )
    if cfg.deepspeed:
        zero_stage(cfg.deepspeed)  # a readable JSON, checked before any work


def resume_checkpoint(cfg: TrainConfig) -> str | None:
    """The last checkpoint to continue from, after checking it was written by the same config."""
    out = Path(cfg.output_dir)
    if cfg.resume == "never" or not out.is_dir():
        return None
    import yaml
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(out))
    if last is None:
        return None
    saved_file = Path(last) / CONFIG_FILE
    if not saved_file.is_file():
        raise ConfigError(f"{last} has no {CONFIG_FILE}; it was not written by `mme5 train` (use another output_dir)")
    saved, now = yaml.safe_load(saved_file.read_text(encoding="utf-8")), to_dict(cfg)
    differ = [k for k in diff_configs(saved, now) if k not in RESUME_SAFE_KEYS]
    if differ:
        details = "; ".join(f"{k}: {_get(saved, k)!r} -> {_get(now, k)!r}" for k in differ)
        raise ConfigError(
            f"cannot resume {last}: the config differs in {differ} ({details}); "
            "restore those values, set resume=never, or use another output_dir"
        )
    return last


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def deepspeed_config(cfg: TrainConfig) -> dict | None:
    """The run's DeepSpeed JSON, with ZeRO-3's size-dependent "auto" values filled from the text
    model's hidden size: HF fills them from `config.hidden_size`, which composite VLM configs lack."""
    if not cfg.deepspeed:
        return None
    import json

    from transformers import AutoConfig

    from .model import resolve_model_path

    ds = json.loads(Path(cfg.deepspeed).read_text(encoding="utf-8"))  # readable: `validate` checked it
    zero = ds.get("zero_optimization", {})
    if zero.get("stage") == 3:
        hidden = AutoConfig.from_pretrained(resolve_model_path(cfg.model.name_or_path)).get_text_config().hidden_size
        sizes = {
            "reduce_bucket_size": hidden * hidden,
            "stage3_prefetch_bucket_size": int(0.9 * hidden * hidden),
            "stage3_param_persistence_threshold": 10 * hidden,
        }  # HF's own rule for these keys
        zero.update({k: v for k, v in sizes.items() if zero.get(k) == "auto"})
    return ds


def training_arguments(cfg: TrainConfig, steps: int):
    """The HF `TrainingArguments` of a run: one planned micro-batch per loader step; warmup, then
    `lr_scheduler` (a float warmup_steps < 1 is a ratio to HF)."""
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=cfg.output_dir,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio if cfg.warmup_steps is None else cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=1,
        max_steps=steps,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        data_seed=cfg.seed,
        optim="adamw_torch",
        bf16=cuda if cfg.bf16 is None else cfg.bf16,
        deepspeed=deepspeed_config(cfg),
        use_cpu=not cuda,
        ddp_backend="gloo" if not cuda and world_size() > 1 else None,
        ddp_find_unused_parameters=True,  # Mllama's vision tower idles on text-only chunks
        remove_unused_columns=False,
        report_to=list(cfg.report_to) or "none",
        dataloader_num_workers=cfg.data.num_workers,
    )


def loss_function(cfg: TrainConfig, dim: int):
    """InfoNCE with the config's temperature and direction (plus the distillation term when
    `distill_weight` > 0), on Matryoshka prefixes when asked (distillation included)."""
    loss = partial(
        info_nce_with_distillation,
        temperature=cfg.temperature,
        symmetric=cfg.symmetric_loss,
        distill_weight=cfg.distill_weight,
        teacher_temperature=cfg.distill_temperature,
    )
    if not cfg.matryoshka_dims:
        return loss
    dims = [None if d == "full" else int(d) for d in cfg.matryoshka_dims]
    too_long = [d for d in dims if d is not None and d > dim]
    if too_long:
        raise ConfigError(f"matryoshka_dims {too_long} exceed the model's embedding dim {dim}")
    return matryoshka(loss, dims, cfg.matryoshka_weights or None)


@dataclass
class RunSetup:
    """What every task's run starts from: checked config, data, batch plan and trainer arguments."""

    resume: str | None  # the checkpoint to continue from (None: a fresh run)
    run_config: dict
    data: Any  # the loaded `Mixture`
    plan: Any  # the `BatchPlan`: micro-batches of row indices, in the order the ranks are served them
    steps: int
    args: Any  # the HF `TrainingArguments`
    zero3: bool
    world: int
    examples_per_step: int
    full_resume: str | None  # resuming a full fine-tune without DeepSpeed: its weights load from here


def setup(cfg: TrainConfig) -> RunSetup:
    """Checks, resume point, data, batch plan (global pools cut per rank), TrainingArguments, seed."""
    from transformers import set_seed

    from ..data.mixture import load_mixture
    from ..data.sampler import plan_batches
    from ..data.schema import positive_key

    validate(cfg)
    if cfg.task == "rerank":
        from .rerank import validate_rerank

        validate_rerank(cfg)
    resume = resume_checkpoint(cfg)
    data = load_mixture(cfg.data, seed=cfg.seed)
    micro_per_step, world = cfg.gradient_accumulation_steps, world_size()
    plan = plan_batches(
        [e.source for e in data.examples],
        [positive_key(e) for e in data.examples] if cfg.data.dedup_positives else None,
        per_device_batch_size=cfg.per_device_batch_size,
        world_size=world,
        seed=cfg.seed,
        epochs=cfg.epochs,
        min_pools=(cfg.max_steps or 0) * micro_per_step,
        same_source_block=cfg.data.same_source_block,
        source_weights=data.weights or None,
    )
    steps = cfg.max_steps or plan.pools // micro_per_step
    if steps < 1:
        raise ConfigError(
            f"{plan.pools} global batches cannot fill one optimizer step of {micro_per_step} micro-batches"
        )
    args = training_arguments(cfg, steps)  # before the model: ZeRO-3 must see its config when weights load
    zero3 = cfg.deepspeed is not None and zero_stage(cfg.deepspeed) == 3
    if zero3:  # ... and DeepSpeed's process group, across which it partitions them as they load
        import deepspeed

        _ = args.device  # accelerate brings up torch.distributed; DeepSpeed adopts it
        deepspeed.init_distributed(dist_backend=args.ddp_backend, verbose=False)
    set_seed(cfg.seed)
    return RunSetup(
        resume=resume,
        run_config=to_dict(cfg),
        data=data,
        plan=plan,
        steps=steps,
        args=args,
        zero3=zero3,
        world=world,
        examples_per_step=cfg.per_device_batch_size * world * micro_per_step,
        full_resume=resume if cfg.model.finetune == "full" and not cfg.deepspeed else None,
    )


def train(cfg: TrainConfig, *, callbacks: Sequence = ()) -> Path:
    """Run (or resume) a training run; returns the output folder holding the final model.
    The task (embedder or reranker) supplies the trainer and what is written after training."""
    run = setup(cfg)
    out = Path(cfg.output_dir)
    callbacks = [JsonlLogger(out / LOG_FILE), *callbacks]
    trainer: RunTrainer
    finish: Callable[[TrainConfig, RunSetup, RunTrainer, Any, Path], None]
    if cfg.task == "rerank":
        from .rerank import finish_reranker, reranker_trainer

        trainer, finish = reranker_trainer(cfg, run, callbacks), finish_reranker
    else:
        trainer, finish = _contrastive_trainer(cfg, run, callbacks), _finish_embedder
    final = out / "lora" if trainer.trained.is_peft else out
    if trainer.is_world_process_zero():
        write_config(out, run.run_config)
    log.info(
        "training %d steps of %d examples (%d per device x %d devices x %d accumulation)%s",
        run.steps,
        run.examples_per_step,
        cfg.per_device_batch_size,
        run.world,
        cfg.gradient_accumulation_steps,
        f", resuming from {run.resume}" if run.resume else "",
    )
    result = trainer.train(resume_from_checkpoint=run.resume)
    trainer.save_model(str(final))  # every rank (DeepSpeed's state-dict call is collective); rank 0 writes
    finish(cfg, run, trainer, result, final)  # every rank: it may hold collectives too
    return out


def _contrastive_trainer(cfg: TrainConfig, run: RunSetup, callbacks: list) -> ContrastiveTrainer:
    from ..data.collate import ContrastiveCollator, MicroBatches
    from .model import build_model

    model = build_model(cfg.model, seed=cfg.seed, weights=run.full_resume)
    collator = ContrastiveCollator(
        model.embedder,
        run.data.examples,
        run.data.wheres,
        negative_ratio=cfg.data.negative_ratio,
        chunk_size=cfg.gradcache_chunk_size,
        on_bad_image=cfg.data.on_bad_image,
        lockstep=run.zero3,  # ZeRO-3: every rank runs the same modules per chunk
        image_cache_bytes=cfg.data.image_cache_mb << 20,
    )
    return ContrastiveTrainer(
        model=model,
        args=run.args,
        train_dataset=MicroBatches(run.plan.micro_batches),
        data_collator=collator,
        callbacks=callbacks,
        run_config=run.run_config,
        loss_fn=loss_function(cfg, model.embedder.dim),
        examples_per_step=run.examples_per_step,
    )


def _finish_embedder(cfg: TrainConfig, run: RunSetup, trainer: RunTrainer, result: Any, final: Path) -> None:
    """The base model's prompts beside the adapter, the merged model (`save_merged`), the summary."""
    from ..model.loading import resolve_dtype
    from .model import export_merged, resolve_model_path

    assert isinstance(trainer, ContrastiveTrainer)
    replaced = trainer.replaced_examples_total()  # collective
    if not trainer.is_world_process_zero():
        return
    out, data = Path(cfg.output_dir), run.data
    base = resolve_model_path(cfg.model.name_or_path)
    prompts = model_prompts(base)  # the base model's prompts travel with what was trained from it
    write_prompts(final, prompts)
    if trainer.trained.is_peft and cfg.save_merged:
        export_merged(base, final, out, resolve_dtype(cfg.model.dtype))
        write_config(out, run.run_config)
        write_prompts(out, prompts)
    write_json(
        out / "train_summary.json",
        {
            "steps": result.global_step,
            "train_loss": result.training_loss,
            "examples": len(data.examples),
            "skipped_images": data.skipped_images,
            "replaced_for_bad_images": replaced,
            "dropped_by_batching": run.plan.dropped,
            "world_size": run.world,
            "sources": data.report,
        },
    )
    if data.skipped_images or replaced:
        log.warning(
            "%d examples were skipped at loading and %d replaced at batch time for missing or "
            "unreadable images (see train_summary.json)",
            data.skipped_images,
            replaced,
        )
