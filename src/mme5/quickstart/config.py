"""The quickstart's typed config: the stages' own configs plus what only the quickstart decides.

`train` is the training stage's `TrainConfig`; its defaults are the recipe file
`quickstart-emoji.yaml` (also `configs/train/quickstart-emoji.yaml`, which `mme5 train` accepts).
`evaluation` is the evaluation stage's `EvalConfig`. The quickstart adds the tiny model it
builds, the emoji split and the learning check.
`--set key=value` overrides any field, e.g. `--set train.learning_rate=1e-3`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.emoji import XTD_LANGUAGES
from ..evaluation.runner import EvalConfig
from ..model.backbones.base import TinySizes
from ..prompts import FIND_IMAGE_FOR_CAPTION, REPRESENT_IMAGE
from ..training.config import TrainConfig

RECIPE = Path(__file__).resolve().parent / "quickstart-emoji.yaml"
"""The training recipe (configs/train/quickstart-emoji.yaml links here, so the wheel ships it)."""


@dataclass(frozen=True)
class TinyBuild:
    """The tiny backbone built from scratch before training, its BPE tokenizer trained on the
    training names and the instructions (never on a held-out name)."""

    backbone: str = "mllama"
    sizes: TinySizes = field(default_factory=lambda: TinySizes(text_hidden=128, intermediate=256, vocab_size=2000))
    """Sizes of the tiny backbone (`tiny.sizes.text_hidden=...`). Mllama starts its image gates at 0
    (images ignored); `cross_attention_gate` 0.5 makes a tiny model learn 2.5-3x faster."""
    seed: int = 0


@dataclass(frozen=True)
class SplitConfig:
    """Which pairs train and which are held out for the two retrieval splits."""

    source: str | None = None
    """None: the pack shipped in mme5; else a pack folder or an `emoji_cldr` folder."""
    eval_languages: tuple[str, ...] = XTD_LANGUAGES
    """A subset of the 11 XTD languages (the registered `emoji-a-<lang>` / `emoji-b-<lang>` tasks)."""
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
class CheckConfig:
    """The learning criterion: R@10 >= factor x max(chance, untrained) in >= min_languages, both splits."""

    factor: float = 3.0
    min_languages: int = 5


def recipe() -> TrainConfig:
    """The training stage's config as the recipe file gives it."""
    from ..config import load_config

    return load_config(TrainConfig, RECIPE)


@dataclass(frozen=True)
class QuickstartConfig:
    tiny: TinyBuild = field(default_factory=TinyBuild)
    base_model: str | None = None
    """None: build the tiny model (`tiny`); else start from this checkpoint (folder or hub id), trained
    as `train.model.finetune` says (`mme5 quickstart --model DIR` sets LoRA)."""
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=recipe)
    """The training stage's config; output_dir, model.name_or_path and data.sources are set to the
    run folder's paths when the quickstart runs."""
    evaluation: EvalConfig = field(
        default_factory=lambda: EvalConfig(
            batch_size=256, ks=(1, 10), views=("16-float", "32-float", "full-binary", "full-binary+rescore4")
        )
    )
    """The evaluation stage's config; data.data_dir is the run folder and cache_dir (if null) the run's
    eval/cache when the quickstart runs. `views`: R@10 of the same vectors at 16 / 32 dimensions (the
    recipe trains those prefixes: matryoshka_dims), as binary codes, and binary + float rescoring."""
    check: CheckConfig = field(default_factory=CheckConfig)
