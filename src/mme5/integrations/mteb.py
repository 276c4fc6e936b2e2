"""mteb (>= 2): an encoder and `ModelMeta` for mme5 checkpoints, so `mteb.evaluate` runs mteb's
retrieval and image tasks with mme5's formatting and the mmE5 instruction of each task type.

    import mteb
    from mme5.integrations.mteb import mme5_model_meta
    model = load_mteb_model("out/merged")  # or mme5_model_meta(...).load_model() (mteb then wants torchvision)
    mteb.evaluate(model, mteb.get_tasks(tasks=["Flickr30kT2IRetrieval"]))

mteb's own registry entry for intfloat/mmE5-mllama-11b-instruct lists English only and no training
code; `mme5_model_meta` lists the 93 XLM-R languages mmE5 samples from and links the code."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta, ScoringFunction

from .. import prompts as P
from ..model.embedder import Embedder
from ..types import Item
from .profile import PROFILE_FILE, read_profile, training_code_url

log = logging.getLogger(__name__)
TRAINING_DATA_URL = "https://huggingface.co/datasets/intfloat/mmE5-synthetic"
EXTRA_LANGUAGE_CODES = {"mg": "mlg-Latn"}  # XLM-R's Malagasy: mteb's ISO table has no 2-letter entry
# (mteb task category, query or document side) -> the mmE5 instruction for that side
CATEGORY_INSTRUCTIONS: dict[tuple[str, str], str | None] = {
    ("t2i", "query"): P.FIND_IMAGE_FOR_CAPTION,
    ("t2i", "document"): P.REPRESENT_IMAGE,
    ("i2t", "query"): P.REPRESENT_IMAGE,
    ("i2t", "document"): None,
    ("i2i", "query"): P.REPRESENT_IMAGE,
    ("i2i", "document"): P.REPRESENT_IMAGE,
    ("it2t", "query"): P.REPRESENT_IMAGE_WITH_QUESTION,
    ("it2t", "document"): None,
    ("it2i", "query"): P.REPRESENT_IMAGE_WITH_TEXT,
    ("it2i", "document"): P.REPRESENT_IMAGE,
    ("t2it", "query"): P.FIND_IMAGE_FOR_CAPTION,
    ("t2it", "document"): P.REPRESENT_IMAGE_WITH_TEXT,
    ("i2it", "query"): P.REPRESENT_IMAGE,
    ("i2it", "document"): P.REPRESENT_IMAGE_WITH_TEXT,
    ("it2it", "query"): P.REPRESENT_IMAGE_WITH_TEXT,
    ("it2it", "document"): P.REPRESENT_IMAGE_WITH_TEXT,
}
TYPE_INSTRUCTIONS: dict[str, str] = {
    "ImageClassification": P.REPRESENT_IMAGE_FOR_CLASSIFICATION,
    "ZeroShotClassification": P.REPRESENT_IMAGE_FOR_CLASSIFICATION,
    "VisualSTS": P.REPRESENT_IMAGE,
    "ImageClustering": P.REPRESENT_IMAGE,
    "DocumentUnderstanding": P.V2_VISDOC_QUERY,
}
"""Task types without query/document sides (or visual-document retrieval): one instruction."""


def mteb_languages() -> list[str]:
    """The 93 XLM-R languages mmE5's synthetic data covers, as mteb's `xxx-Scrp` codes."""
    from mteb.languages.iso_mappings import _hf_lang_to_iso_lang_script

    from ..synthesis.languages import XLMR_LANGUAGES

    return sorted(
        {EXTRA_LANGUAGE_CODES.get(code) or _hf_lang_to_iso_lang_script(code) or code for code in XLMR_LANGUAGES}
    )


def instruction_for(task_metadata: Any, prompt_type: Any, has_image: bool) -> str | None:
    """The mmE5 instruction for one side of an mteb task: by category and side, then by task type,
    then the task's own prompt for that side; an image with none of those gets REPRESENT_IMAGE."""
    side = "document" if getattr(prompt_type, "value", prompt_type) == "document" else "query"
    key = (getattr(task_metadata, "category", None) or "", side)
    if key in CATEGORY_INSTRUCTIONS:
        return CATEGORY_INSTRUCTIONS[key]
    if task_metadata.type in TYPE_INSTRUCTIONS and not (task_metadata.type == "DocumentUnderstanding" and has_image):
        return TYPE_INSTRUCTIONS[task_metadata.type]
    own = task_metadata.prompt.get(side) if isinstance(task_metadata.prompt, dict) else task_metadata.prompt
    if own:
        return str(own)
    return P.REPRESENT_IMAGE if has_image else None


class MME5Encoder(AbsEncoder):
    """mteb encoder over `mme5.Embedder` (the exact encode path of training, eval and serving)."""

    def __init__(
        self,
        model_name: str,
        revision: str | None = None,
        *,
        device: str | None = None,
        adapter: str | None = None,
        max_length: int = 256,
        batch_size: int = 16,
        dtype: str | None = None,
        meta: ModelMeta | None = None,
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        if profile is None and (Path(model_name) / PROFILE_FILE).is_file():  # an export says how it formats
            profile = read_profile(model_name).formatting_profile
        self.embedder = Embedder.from_pretrained(
            model_name, adapter=adapter, device=device, dtype=dtype, max_length=max_length, profile=profile
        )
        self.model = self.embedder.model
        self.batch_size = batch_size
        self.mteb_model_meta = meta

    def encode(
        self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kwargs: Any
    ) -> np.ndarray:
        """mteb batches ({"text": [...], "image": [...]}) -> (n, dim) float32 L2-normalised vectors."""
        items: list[Item] = []
        for batch in inputs:
            texts, images = batch.get("text"), batch.get("image")
            n = len(texts) if texts is not None else len(images)
            for i in range(n):
                image = images[i] if images is not None else None
                text = texts[i] if texts is not None else None
                items.append(
                    Item(
                        text=text or None,
                        image=image,
                        instruction=instruction_for(task_metadata, prompt_type, image is not None),
                    )
                )
        return self.embedder.encode(items, batch_size=kwargs.get("batch_size") or self.batch_size, show_progress=False)


def mme5_model_meta(
    model: str | Path,
    *,
    adapter: str | Path | None = None,
    name: str | None = None,
    max_length: int = 256,
    **loader_kwargs: Any,
) -> ModelMeta:
    """ModelMeta for an mme5 checkpoint (merged folder or hub id, optionally with an adapter); its
    `load_model()` returns an `MME5Encoder`."""
    import json

    config = Path(model) / "config.json"
    dim = n_params = None
    backbone = "mme5"
    if config.is_file():
        from ..model.backbones import detect_backbone

        data = json.loads(config.read_text())
        text = data.get("text_config", data)
        dim = text.get("hidden_size")
        backbone = detect_backbone(model).name
        weights = Path(model) / "model.safetensors"
        if weights.is_file():
            from safetensors import safe_open

            with safe_open(str(weights), "pt") as f:
                n_params = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    label = name or (f"mme5/{Path(model).name}" if Path(model).is_dir() else str(model))
    meta_holder: dict[str, ModelMeta] = {}

    def loader(model_name: str, revision: str | None = None, **kwargs: Any) -> MME5Encoder:
        return MME5Encoder(
            str(model),
            revision,
            adapter=str(adapter) if adapter else None,
            max_length=max_length,
            meta=meta_holder["meta"],
            **{**loader_kwargs, **kwargs},
        )

    meta = ModelMeta(
        loader=cast(Any, loader),
        name=label if "/" in label else f"mme5/{label}",
        revision=None,
        release_date=None,
        languages=mteb_languages(),
        n_parameters=n_params,
        memory_usage_mb=None,
        max_tokens=max_length,
        embed_dim=dim,
        license=None,
        open_weights=True,
        public_training_code=training_code_url(),
        public_training_data=TRAINING_DATA_URL,
        framework=["PyTorch", "Transformers"],
        similarity_fn_name=cast(Any, ScoringFunction.COSINE),
        use_instructions=True,
        training_datasets=None,
        modalities=["text", "image"],
        adapted_from=None,
        model_type=["dense"],
        extra_requirements_groups=None,
        citation=None,
        reference=None,
        contacts=None,
        experiment_kwargs={"backbone": backbone},
    )
    meta_holder["meta"] = meta
    return meta


def load_mteb_model(
    model: str | Path, *, adapter: str | Path | None = None, max_length: int = 256, **kwargs: Any
) -> MME5Encoder:
    """The encoder with its ModelMeta attached, built directly: `ModelMeta.load_model` first checks
    mteb's `image` extra (torchvision) for any image model, which mme5 does not need."""
    meta = mme5_model_meta(model, adapter=adapter, max_length=max_length)
    return MME5Encoder(
        str(model), adapter=str(adapter) if adapter else None, max_length=max_length, meta=meta, **kwargs
    )
