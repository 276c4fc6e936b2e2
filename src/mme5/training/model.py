"""The trainable model: an Embedder's HF model with a LoRA/DoRA adapter (or fully trainable),
wrapped so DDP/DeepSpeed see one module whose forward maps prepared inputs to embeddings.
`TrainedModule` is what every `mme5 train` task hands the trainer (the reranker's is in rerank.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..model.embedder import Embedder, Prepared
from ..model.loading import resolve_dtype
from ..model.profiles import write_profile_marker
from ..types import InputError, MissingFileError
from .config import ModelConfig

log = logging.getLogger(__name__)
TINY_SCHEME = "tiny:"


class TrainedModule(nn.Module):
    """What the trainer steps, checkpoints and resumes: a registered transformers `model` (its
    adapter inside, if any) and the `processor` saved beside it. DDP and DeepSpeed wrap this module,
    so a task's forward must run through it."""

    model: Any

    @property
    def processor(self) -> Any:
        raise NotImplementedError

    @property
    def is_peft(self) -> bool:
        return hasattr(self.model, "peft_config")

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    def mark(self, out: Path) -> None:
        """Write what a saved folder needs to reload as this task's model (beside the weights)."""


class ContrastiveModel(TrainedModule):
    """forward(*prepared) -> one (n_i, dim) L2-normalised tensor per `Prepared`, via `Embedder.forward`
    (the exact encode path of evaluation and serving)."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.model = embedder.model  # registered: the trainer, DDP and DeepSpeed see its parameters
        self.embedder = embedder

    def forward(self, *prepared: Prepared) -> tuple[torch.Tensor, ...]:
        return tuple(self.embedder.forward(p) for p in prepared)

    @property
    def processor(self) -> Any:
        return self.embedder.processor

    def mark(self, out: Path) -> None:
        write_profile_marker(out, self.embedder.profile)  # reloads (adapter or full) keep the profile


def resolve_model_path(name_or_path: str) -> str:
    """`tiny:<backbone>` -> the offline tiny model folder (built once); anything else unchanged."""
    if name_or_path.startswith(TINY_SCHEME):
        from ..model.loading import ensure_tiny

        return str(ensure_tiny(name_or_path[len(TINY_SCHEME) :] or "mllama"))
    return name_or_path


def build_model(cfg: ModelConfig, *, seed: int = 0, weights: str | None = None) -> ContrastiveModel:
    """Load the base on CPU (the trainer places it: one copy per rank's device), then add the
    adapter with mmE5's defaults, or make every weight trainable for `finetune: full`.

    `weights`: load them from this folder instead of the base (resuming a full fine-tune: its
    checkpoints are complete model folders).
    """
    embedder = Embedder.from_pretrained(
        weights or resolve_model_path(cfg.name_or_path),
        backbone=cfg.backbone,
        dtype=resolve_dtype(cfg.dtype),
        device="cpu",
        max_length=cfg.max_length,
        attn_implementation=cfg.attn_implementation,
        profile=cfg.profile,
    )
    return make_trainable(embedder, cfg, seed=seed)


def make_trainable(embedder: Embedder, cfg: ModelConfig, *, seed: int = 0) -> ContrastiveModel:
    """A loaded Embedder -> the model the trainer steps (`trainable_model`), wrapped."""
    embedder.model = trainable_model(embedder.model, embedder.backbone.lora_targets, cfg, seed=seed)
    wrapped = ContrastiveModel(embedder)
    n_train = sum(p.numel() for p in wrapped.trainable_parameters().values())
    n_all = sum(p.numel() for p in wrapped.parameters())
    log.info("trainable parameters: %d of %d (%.2f%%)", n_train, n_all, 100 * n_train / max(n_all, 1))
    return wrapped


def trainable_model(model: Any, lora_targets: tuple[str, ...], cfg: ModelConfig, *, seed: int = 0) -> Any:
    """A loaded transformers model -> the model to train: no KV cache, gradient checkpointing,
    an adapter with the config's settings on `lora.targets` (default: the backbone's
    `lora_targets`), or every weight trainable for `finetune: full`. Embedders and rerankers alike."""
    for config in (model.config, model.config.get_text_config()):
        config.use_cache = False
    if cfg.gradient_checkpointing:
        # non-reentrant: works with frozen inputs (LoRA) and with GradCache's repeated forwards
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if cfg.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        lora = cfg.lora
        targets = list(lora.targets or lora_targets)
        torch.manual_seed(seed)  # the gaussian init of the adapter is part of the run's seed
        model = get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                use_dora=lora.use_dora,
                init_lora_weights=_lora_init(lora.init),
                target_modules=targets,
            ),
        )
    else:
        model.requires_grad_(True)
    model.train()
    return model


def _lora_init(init: str) -> Any:
    return {"true": True, "default": True, "false": False}.get(init.lower(), init)


def save_weights(model: TrainedModule, out_dir: str | Path, state_dict: dict | None = None) -> None:
    """Adapter (LoRA) or full weights + the processor + the task's marker: a folder that
    `Embedder.from_pretrained` (or `Reranker.from_pretrained`) loads as `adapter=` (LoRA) or directly
    (full fine-tune)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if state_dict is not None:  # from the trainer (DeepSpeed's state dict): keys start with "model."
        state_dict = {k[len("model.") :]: v for k, v in state_dict.items() if k.startswith("model.")}
    model.model.save_pretrained(out, state_dict=state_dict)
    model.processor.save_pretrained(out)
    model.mark(out)


def load_adapter(model: TrainedModule, ckpt_dir: str | Path) -> None:
    """Load a checkpoint's adapter weights into a built LoRA model (resuming a run)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    adapter = Path(ckpt_dir) / "adapter_model.safetensors"
    if not adapter.is_file():
        raise MissingFileError(f"{ckpt_dir}: no adapter_model.safetensors to resume from")
    result: Any = set_peft_model_state_dict(model.model, load_file(adapter))
    if result.unexpected_keys:
        raise InputError(f"{adapter}: unexpected adapter keys {result.unexpected_keys[:3]}")


def export_merged(base: str, adapter_dir: str | Path, out_dir: str | Path, dtype: str | torch.dtype) -> Path:
    """Base + adapter merged into a plain model folder (what the released mmE5 checkpoint ships
    beside its `lora/`), loadable with `Embedder.from_pretrained(out_dir)` alone."""
    merged = Embedder.from_pretrained(base, adapter=adapter_dir, device="cpu", dtype=dtype)
    merged_model: Any = merged.model
    merged_model.save_pretrained(out_dir)
    merged.processor.save_pretrained(out_dir)
    write_profile_marker(out_dir, merged.profile)
    return Path(out_dir)
