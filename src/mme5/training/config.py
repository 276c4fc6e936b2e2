"""The typed training config (instances live in configs/train/*.yaml)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config import ConfigError
from ..data.config import DataConfig, SourceConfig


@dataclass(frozen=True)
class LoraSettings:
    """mmE5's adapter: LoRA r 8, alpha 64, dropout 0.1, DoRA, gaussian init."""

    r: int = 8
    alpha: int = 64
    dropout: float = 0.1
    use_dora: bool = True
    init: str = "gaussian"
    targets: tuple[str, ...] = ()
    """module names; empty = the backbone registry's `lora_targets`."""


@dataclass(frozen=True)
class ModelConfig:
    name_or_path: str = "tiny:mllama"
    """hub id, local folder, or `tiny:<backbone>` (a tiny random model built offline)."""
    backbone: str | None = None
    """registry name; needed for a hub id in --dry-run (no config download), else detected."""
    max_length: int = 256
    profile: str | None = None
    """input formatting profile (mme5.model.profiles); None: the one the checkpoint calls for
    (qwen3-vl-embedding for Qwen3-VL-Embedding checkpoints), used alike in training and at reload."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """auto: bfloat16 on CUDA, float32 on CPU."""
    attn_implementation: str = "sdpa"
    finetune: Literal["lora", "full"] = "lora"
    lora: LoraSettings = field(default_factory=LoraSettings)
    gradient_checkpointing: bool = True


@dataclass(frozen=True)
class RerankSettings:
    """`task: rerank`: how a yes/no reranker learns from the same rows (mme5.training.rerank)."""

    loss: Literal["listwise", "pointwise"] = "listwise"
    """listwise: softmax cross-entropy over the positive and its negatives; pointwise: binary
    cross-entropy on each pair's yes/no logit (positive 1, negatives 0)."""
    negatives: int = 3
    """negatives per query: its `neg_*` hard negatives first, then other rows' positives of the micro-batch."""
    format: Literal["qwen3-vl-reranker", "mme5"] | None = None
    """pair format (mme5.model.rerank_format); None: the model's (qwen3-vl-reranker on qwen3_vl)."""
    instruction: str | None = None
    """the `<Instruct>` line; None: each query's instruction, else the format's default."""
    max_length: int = 10240
    """tokens a pair keeps before its generation prompt (special tokens always kept)."""


@dataclass(frozen=True)
class TrainConfig:
    output_dir: str = "runs/train"
    task: Literal["embed", "rerank"] = "embed"
    """embed: a contrastive embedder; rerank: a yes/no reranker from the same rows (`rerank` section)."""
    rerank: RerankSettings = field(default_factory=RerankSettings)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    seed: int = 42
    per_device_batch_size: int = 2
    gradient_accumulation_steps: int = 1
    gradcache_chunk_size: int | None = None
    """examples per GradCache chunk; None = plain forward/backward of the whole micro-batch.
    Embedder only (`task: rerank` must leave it null: its queries' losses are independent)."""
    temperature: float = 0.02
    symmetric_loss: bool = False
    matryoshka_dims: tuple[int | Literal["full"], ...] = ()
    """Matryoshka training: the contrastive loss on each L2-normalised prefix of these lengths
    (`full` = the whole vector), summed; e.g. [64, 128, 256, full]. Empty = the full vector only.
    The checkpoint records them (train_config.yaml); `--dim` / `dimensions` accept only these."""
    matryoshka_weights: tuple[float, ...] = ()
    """One weight per matryoshka_dims entry; empty = 1 each."""
    distill_weight: float = 0.0
    """> 0: add this x KL(reranker softmax || embedder softmax) over each query's [positive, hard
    negatives], from the rows' `teacher_scores` (`mme5 mine --teacher-scores`)."""
    distill_temperature: float = 1.0
    """temperature of the teacher's (reranker) logits in the distillation term."""
    learning_rate: float = 1e-5
    lr_scheduler: Literal["linear", "cosine", "constant_with_warmup"] = "linear"
    """decay after warmup: linear or cosine (half a cosine wave) to 0 at the last step, or constant."""
    warmup_ratio: float = 0.05
    warmup_steps: int | None = None
    """warmup length in optimizer steps; overrides warmup_ratio when set."""
    weight_decay: float = 0.0
    max_grad_norm: float = 5.0
    epochs: float = 1.0
    max_steps: int | None = None
    """optimizer steps; overrides epochs when set."""
    bf16: bool | None = None
    """None (auto): bf16 mixed precision on CUDA only."""
    deepspeed: str | None = None
    """path to a DeepSpeed JSON config (configs/deepspeed/zero2.json or zero3.json)."""
    logging_steps: int = 5
    save_steps: int = 100
    save_total_limit: int | None = 3
    report_to: tuple[str, ...] = ()
    """extra trackers for the HF Trainer, e.g. [tensorboard]; train_log.jsonl is always written."""
    resume: Literal["auto", "never"] = "auto"
    """auto: continue from the last checkpoint in output_dir (the config must match)."""
    save_merged: bool = True
    """after LoRA training, also write base + merged adapter as a full model in output_dir."""


# keys that may change between a run and its resumption without changing what is computed;
# output_dir: the checkpoint was found in the folder being resumed, so a moved or copied run folder
# (or the same folder named by another relative/absolute path) is the same run
RESUME_SAFE_KEYS = (
    "resume",
    "output_dir",
    "data.num_workers",
    "data.image_cache_mb",
    "logging_steps",
    "report_to",
    "save_total_limit",
    "save_merged",
)


def zero_stage(path: str) -> int:
    """The ZeRO stage of a DeepSpeed JSON config (0 when it names none)."""
    try:
        return int(json.loads(Path(path).read_text(encoding="utf-8")).get("zero_optimization", {}).get("stage", 0))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"deepspeed: cannot read {path}: {exc}") from exc


__all__ = [
    "DataConfig",
    "LoraSettings",
    "ModelConfig",
    "RESUME_SAFE_KEYS",
    "RerankSettings",
    "SourceConfig",
    "TrainConfig",
    "zero_stage",
]
