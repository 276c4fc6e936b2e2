"""`mme5_embedding.json`: how an exported checkpoint turns inputs into vectors, written beside the
weights so every tool (and every reader of the hub page) applies the same formatting and pooling."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model.backbones import Backbone, get_backbone
from ..model.formatting import FORMAT_VERSION
from ..types import MissingFileError

PROFILE_FILE = "mme5_embedding.json"
PROFILE_VERSION = 1
TRAINING_CODE_URL = "https://github.com/mme5/mme5"
"""Where the training code lives (the model card and mteb's ModelMeta link it)."""
INSTRUCTION_TEMPLATE = "{instruction} {text}\n"
"""The mmE5 join (`mme5.model.formatting.join_instruction`), recorded for readers of the file."""


def task_prompts() -> dict[str, str]:
    """Named instructions (prompt name -> instruction) an exported model ships with: the mmE5
    instructions of `mme5.prompts`, under names that say which side of which task they belong to, and
    the default `query` / `document` prompts (sentence-transformers' `encode_query` / `encode_document`
    apply them)."""
    from .. import prompts as p

    return {
        **p.DEFAULT_PROMPTS,
        "t2i_query": p.FIND_IMAGE_FOR_CAPTION,  # caption -> image (MSCOCO t2i, XTD)
        "image_target": p.REPRESENT_IMAGE,  # an image candidate / gallery image
        "vqa_query": p.REPRESENT_IMAGE_WITH_QUESTION,  # image + question
        "image_text_target": p.REPRESENT_IMAGE_WITH_TEXT,  # image + text candidate
        "classification_query": p.REPRESENT_IMAGE_FOR_CLASSIFICATION,  # image -> class label
        "visdoc_query": p.V2_VISDOC_QUERY,  # text -> document page
        "visdoc_page": p.V2_VISDOC_PAGE,
    }


@dataclass(frozen=True)
class EmbeddingProfile:
    """Everything a consumer needs besides the weights: pooling, normalisation, size, formatting."""

    backbone: str
    dim: int
    max_length: int
    pooling: str = "last_token"
    normalize: bool = True
    padding_side: str = "left"
    image_text: str = ""
    no_image_text: str = ""
    instruction_template: str = INSTRUCTION_TEMPLATE
    formatting_profile: str = "mme5"
    """The input-formatting profile (`mme5.model.profiles`) the vectors were made with; load with
    `mme5.model.profiles.set_profile(embedder, name)` when it is not `mme5`."""
    format_version: str = FORMAT_VERSION
    processor_text_prefix: str = ""
    """Tokens the processor puts before a text that lacks them (Mllama: `<|begin_of_text|>`), measured
    at export; tokenizer-only consumers (ONNX) add it the same way."""
    prompts: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    profile_version: int = PROFILE_VERSION

    @classmethod
    def for_backbone(
        cls,
        backbone: Backbone,
        *,
        dim: int,
        max_length: int,
        source: dict[str, Any] | None = None,
        prompts: dict[str, str] | None = None,
        processor_text_prefix: str = "",
        formatting_profile: str = "mme5",
    ) -> EmbeddingProfile:
        """The profile of a model of `backbone`, with the formatting that backbone's formatter applies."""
        return cls(
            backbone=backbone.name,
            dim=dim,
            max_length=max_length,
            padding_side=backbone.padding_side,
            image_text=backbone.image_text,
            no_image_text=backbone.no_image_text,
            processor_text_prefix=processor_text_prefix,
            formatting_profile=formatting_profile,
            prompts=dict(task_prompts() if prompts is None else prompts),
            source=dict(source or {}),
        )

    @property
    def spec(self) -> Backbone:
        return get_backbone(self.backbone)

    def write(self, out_dir: str | Path) -> Path:
        from ..provenance import write_json

        return write_json(Path(out_dir) / PROFILE_FILE, asdict(self))


def read_profile(model_dir: str | Path) -> EmbeddingProfile:
    """Read `mme5_embedding.json` from an exported folder; a clear error if absent or malformed."""
    from ..config import ConfigError

    path = Path(model_dir) / PROFILE_FILE
    if not path.is_file():
        raise MissingFileError(f"{model_dir}: no {PROFILE_FILE}; export the model with `mme5 export --to hf` first")
    data = json.loads(path.read_text(encoding="utf-8"))
    known = set(EmbeddingProfile.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {sorted(unknown)}; this file was written by a newer mme5?")
    if data.get("profile_version", 0) > PROFILE_VERSION:
        raise ConfigError(f"{path}: profile_version {data['profile_version']} > {PROFILE_VERSION}; upgrade mme5")
    return EmbeddingProfile(**data)
