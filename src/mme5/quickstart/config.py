"""The quickstart's typed config: model size, data split, training and the learning check.

Defaults are the tuned recipe (see docs/quickstart.md); `--set key=value` overrides any field.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..data.emoji import XTD_LANGUAGES
from ..model.backbones.base import TinySizes
from ..prompts import FIND_IMAGE_FOR_CAPTION, REPRESENT_IMAGE


@dataclass(frozen=True)
class ModelConfig:
    """The tiny backbone built from scratch, or a real checkpoint (`path`) fine-tuned with LoRA."""

    backbone: str = "mllama"
    path: str | None = None
    sizes: TinySizes = field(default_factory=lambda: TinySizes(text_hidden=128, intermediate=256, vocab_size=2000))
    """Sizes of the tiny backbone (`model.sizes.text_hidden=...`). Mllama starts its image gates at 0
    (images ignored); `cross_attention_gate` 0.5 makes a tiny model learn 2.5-3x faster."""
    lora_rank: int = 8
    """Only with `path`: LoRA rank on the backbone's `lora_targets` (0 = train every weight)."""
    seed: int = 0


@dataclass(frozen=True)
class DataConfig:
    """Which pairs train and which are held out for the two retrieval splits."""

    source: str | None = None
    """None: the pack shipped in mme5; else a pack folder or an `emoji_cldr` folder."""
    eval_languages: tuple[str, ...] = XTD_LANGUAGES
    train_languages: tuple[str, ...] = XTD_LANGUAGES
    """Languages whose names train the model; empty = every language in the source. The 11
    evaluation languages alone beat all 92 at a fixed step budget (shorter texts, a denser vocabulary)."""
    heldout_image_fraction: float = 0.2
    """Split (b): this share of images never trains and forms its own gallery."""
    heldout_pairs_per_language: int = 330
    """Split (a): (image, language) pairs held out per evaluation language, from training images."""
    max_images: int | None = None
    """Use only the first N images (reduced mode for tests)."""
    query_instruction: str | None = FIND_IMAGE_FOR_CAPTION
    image_instruction: str | None = REPRESENT_IMAGE
    """mmE5's XTD wording (`mme5.prompts`); the trailing newline after each instruction gives
    last-token pooling one fixed token to summarise the name into."""
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Symmetric InfoNCE over batches of distinct images, AdamW with warmup + cosine decay."""

    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 30
    temperature: float = 0.02
    max_grad_norm: float = 5.0
    eval_language_weight: float = 0.5
    """Probability that a training pair is drawn from an evaluation language (if the image has one)."""
    save_every: int = 100
    """Steps between resumable state snapshots (0 = only at the end)."""
    seed: int = 0


@dataclass(frozen=True)
class CheckConfig:
    """The learning criterion: R@10 >= factor x max(chance, untrained) in >= min_languages, both splits."""

    factor: float = 3.0
    min_languages: int = 5


@dataclass(frozen=True)
class QuickstartConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    eval_batch_size: int = 256
