"""`--to sentence-transformers`, native path: the folder loads with `SentenceTransformer(OUT)` alone
(no `trust_remote_code`, no mme5 import), as multimodal embedders such as Qwen3-VL-Embedding ship.

The stack is sentence-transformers' own modules: `Transformer` (the checkpoint through `AutoModel`, the
processor through `AutoProcessor`, every input rendered with the folder's chat template) ->
`Pooling("lasttoken")` -> `Normalize`. The chat template is `mme5.integrations.chat_template`'s: a
prompt arrives as the system message and is joined the mmE5 way, so `prompt_name="t2i_query"` gives
mme5's `Item(text, instruction=...)` vector. Written only where that is exact (`native_refusal`);
elsewhere the export keeps mme5's input module (`mme5.integrations.sentence_transformers`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .chat_template import embedding_chat_template
from .profile import EmbeddingProfile

SUPPORTED_VERSIONS = ">=6.1,<7"
"""The sentence-transformers releases the export is written for; pyproject's `export` extra pins the
same range (tests/integrations/test_st_native.py checks both and the installed version)."""
NATIVE_BACKBONES = ("mllama", "idefics3", "llava_next")
"""Families whose stock processor `AutoProcessor` builds without torchvision. The Qwen-VL processors
need a video processor (torchvision) and mme5's image-only subclass is not importable by name."""
TRANSFORMER = "sentence_transformers.base.modules.transformer.Transformer"
POOLING = "sentence_transformers.sentence_transformer.modules.pooling.Pooling"
NORMALIZE = "sentence_transformers.base.modules.normalize.Normalize"


def native_refusal(profile: EmbeddingProfile) -> str | None:
    """Why this export cannot use sentence-transformers' own Transformer module, or None if it can."""
    if profile.backbone not in NATIVE_BACKBONES:
        return f"{profile.backbone}'s processor cannot be built by AutoProcessor without torchvision"
    if profile.formatting_profile != "mme5":
        return f"the {profile.formatting_profile!r} formatting profile changes the model inputs, not only the text"
    return None


def transformer_config(profile: EmbeddingProfile) -> dict[str, Any]:
    """`sentence_bert_config.json`: every input goes through the chat template (the `message` modality),
    the model's last hidden state is the token embeddings. Mllama's processor cuts each row to
    `max_length` ids as mme5 does; the others get mme5's cut only for texts within it (mme5 cuts the
    text before image tokens expand, which a processor call cannot express). The template's trailing
    newline is not written back over a cut row (mme5 does not restore it either)."""
    forward = {"method": "forward", "method_output_name": "last_hidden_state"}
    processing: dict[str, Any] = {"chat_template": {"restore_suffix": False}}
    if profile.backbone == "mllama":
        processing["text"] = {"max_length": profile.max_length}
    return {
        "transformer_task": "feature-extraction",
        "modality_config": {"text": forward, "image": forward, "message": {**forward, "format": "structured"}},
        "module_output_name": "token_embeddings",
        "processing_kwargs": processing,
        "unpad_inputs": False,
    }


def write_native(out_dir: str | Path, profile: EmbeddingProfile) -> Path:
    """Write the chat template, the tokenizer's padding side and the sentence-transformers files into
    `out_dir` (which already holds the merged checkpoint and processor, `mme5.integrations.hf`)."""
    import sentence_transformers
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    out = Path(out_dir)
    (out / "chat_template.jinja").write_text(embedding_chat_template(profile), encoding="utf-8")
    _write_json(out / "sentence_bert_config.json", transformer_config(profile))
    modules = [(TRANSFORMER, ""), (POOLING, "1_Pooling"), (NORMALIZE, "2_Normalize")]
    _write_json(
        out / "modules.json",
        [{"idx": i, "name": str(i), "path": path, "type": kind} for i, (kind, path) in enumerate(modules)],
    )
    for module, path in ((Pooling(profile.dim, pooling_mode="lasttoken"), "1_Pooling"), (Normalize(), "2_Normalize")):
        (out / path).mkdir(exist_ok=True)
        module.save(str(out / path))
    _write_json(out / "config_sentence_transformers.json", st_config(profile, sentence_transformers.__version__))
    return out


def st_config(profile: EmbeddingProfile, version: str) -> dict[str, Any]:
    """`config_sentence_transformers.json`: the prompts (mme5 instructions, `query` / `document` among
    them) and cosine similarity."""
    return {
        "__version__": {"sentence_transformers": version},
        "model_type": "SentenceTransformer",
        "prompts": dict(profile.prompts),
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
