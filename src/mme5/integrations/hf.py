"""`--to hf`: a plain transformers checkpoint (adapter merged), its processor, tokenizer and chat
template, and `mme5_embedding.json`; every other target starts from this folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..model.embedder import Embedder
from ..prompts import model_prompts, write_prompts
from .profile import EmbeddingProfile

log = logging.getLogger(__name__)
IMAGE_ONLY_SUFFIX = "ImageOnly"
"""mme5 builds Qwen-VL processors as `<Stock>ImageOnly` subclasses (no torchvision needed); the
saved files name the stock class so AutoProcessor, vLLM and sentence-transformers find it."""


def export_hf(
    model: str | Path,
    out_dir: str | Path,
    *,
    adapter: str | Path | None = None,
    dtype: str = "float32",
    max_length: int | None = None,
    backbone: str | None = None,
    profile: str | None = None,
    device: str | None = "cpu",
) -> tuple[Path, Embedder]:
    """Merge `adapter` (LoRA or DoRA) into `model`, save weights + processor + profile to `out_dir`.

    Returns the folder and the merged Embedder (so further targets need not load it again)."""
    out = Path(out_dir)
    from ..model.profiles import write_profile_marker

    embedder = Embedder.from_pretrained(
        model,
        adapter=adapter,
        backbone=backbone,
        dtype=dtype,
        device=device or "cpu",
        max_length=max_length,
        profile=profile,
    )
    out.mkdir(parents=True, exist_ok=True)
    merged: Any = embedder.model
    merged.save_pretrained(out)
    embedder.processor.save_pretrained(out)
    restore_stock_processor_class(out)
    record_padding_side(out, embedder.backbone.padding_side)
    write_profile_marker(out, embedder.profile)
    source: dict[str, Any] = {
        "model": str(model),
        "adapter": str(adapter) if adapter else None,
        "dtype": dtype,
        "fingerprint": embedder.fingerprint,
    }
    prompts = model_prompts(model, profile, adapter)
    write_prompts(out, prompts)
    EmbeddingProfile.for_backbone(
        embedder.backbone,
        dim=embedder.dim,
        max_length=embedder.max_length,
        source=source,
        processor_text_prefix=processor_text_prefix(embedder),
        formatting_profile=embedder.profile,
        prompts=prompts,
    ).write(out)
    log.info("merged checkpoint written to %s", out)
    return out, embedder


def processor_text_prefix(embedder: Embedder) -> str:
    """What the processor adds before a plain text beyond the tokenizer's own special tokens
    (MllamaProcessor prepends `<|begin_of_text|>` unless the text holds it), measured on a probe."""
    probe = "probe text"
    with_processor = embedder.processor(text=[probe])["input_ids"][0]
    with_processor = list(with_processor.tolist() if hasattr(with_processor, "tolist") else with_processor)
    alone = embedder.tokenizer(probe)["input_ids"]
    if len(with_processor) <= len(alone) or with_processor[-len(alone) :] != alone:
        return ""
    return embedder.tokenizer.decode(with_processor[: len(with_processor) - len(alone)], skip_special_tokens=False)


def record_padding_side(folder: Path, side: str) -> None:
    """Write the backbone's padding side into tokenizer_config.json (transformers does not save it), so
    tools that batch with the stock tokenizer (sentence-transformers) pad the rows as mme5 does."""
    path = folder / "tokenizer_config.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["padding_side"] = side
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def restore_stock_processor_class(folder: Path) -> list[str]:
    """Rewrite `processor_class: XImageOnly` to `X` in the saved JSON files; returns the files changed."""
    changed = []
    for name in ("processor_config.json", "tokenizer_config.json", "preprocessor_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        cls = data.get("processor_class")
        if isinstance(cls, str) and cls.endswith(IMAGE_ONLY_SUFFIX):
            data["processor_class"] = cls[: -len(IMAGE_ONLY_SUFFIX)]
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(name)
    return changed
