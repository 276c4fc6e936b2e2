"""Loading a model: `--model` (a folder, a hub id, or the embedded tiny default), the one dtype
resolver of the project, folder checks, and the weights + processor an Embedder wraps.

The public entry point `load_embedder` lives with the Embedder (mme5.model.embedder).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError
from ..paths import cache_root
from ..types import MissingFileError
from .backbones import Backbone, detect_backbone, get_backbone
from .fingerprint import fingerprint_model
from .tiny import BUILDER_VERSION, build_tiny

PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
DEFAULT_TINY_BACKBONE = "mllama"
DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(device: str | None = None) -> str:
    """`device`, or "cuda" when a GPU is visible, else "cpu"."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(dtype: str | torch.dtype | None, device: str | None = None) -> torch.dtype:
    """The one dtype resolver: a name (float32/fp32, bfloat16/bf16, float16/fp16) or a torch dtype;
    None / "auto" -> bfloat16 on a GPU `device` (default: where the model would run), else float32."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if resolve_device(device).startswith("cuda") else torch.float32
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def looks_like_a_path(name: str) -> bool:
    """Hub ids are `name` or `owner/name`; anything else (absolute, relative, deeper) is a path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or Path(name).exists()


def check_processor_files(path: Path) -> None:
    """A model folder must carry its processor: say what is missing and how to add it."""
    missing = []
    if not any((path / f).is_file() for f in PROCESSOR_FILES):
        missing.append("an image processor (preprocessor_config.json or processor_config.json)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append("a tokenizer (tokenizer.json / tokenizer_config.json)")
    if missing:
        raise MissingFileError(
            f"{path} lacks {' and '.join(missing)}; save the processor with "
            f"`processor.save_pretrained('{path}')` or copy it from the base model"
        )


def resolve_backbone(model_name_or_path: str | Path, backbone: str | None = None) -> Backbone:
    """The backbone of a local folder (checked for its processor files) or a hub id (its config)."""
    path = Path(model_name_or_path)
    if path.is_dir():
        spec = get_backbone(backbone) if backbone else detect_backbone(path)
        check_processor_files(path)
        return spec
    if looks_like_a_path(str(model_name_or_path)):
        raise MissingFileError(f"model folder not found: {model_name_or_path}")
    if backbone:
        return get_backbone(backbone)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(model_name_or_path))
    except OSError as exc:  # transformers' "not a repo / offline and not cached": the user named it
        raise MissingFileError(
            f"model {str(model_name_or_path)!r} is not a local folder and could not be read "
            f"from the hub (or its cache): {exc}"
        ) from exc
    return get_backbone(config.model_type)


def load_weights(
    model_name_or_path: str | Path,
    spec: Backbone,
    *,
    adapter: str | Path | None,
    dtype: torch.dtype,
    device: str,
    attn_implementation: str | None,
) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode on `device`, processor) via the backbone's real `from_pretrained`; a LoRA
    `adapter` is merged into the weights."""
    if adapter is not None and looks_like_a_path(str(adapter)) and not Path(adapter).is_dir():
        raise MissingFileError(f"adapter folder not found: {adapter}")  # before the (long) weight load
    model = spec.model_class().from_pretrained(
        str(model_name_or_path), dtype=dtype, attn_implementation=attn_implementation
    )
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.to(device).eval()
    return model, spec.processor_class().from_pretrained(str(model_name_or_path))


def load_checkpoint(
    model_name_or_path: str | Path,
    spec: Backbone,
    *,
    adapter: str | Path | None,
    dtype: str | torch.dtype | None,
    device: str | None,
    attn_implementation: str | None,
    max_length: int,
) -> tuple[torch.nn.Module, Any, str]:
    """(model, processor, fingerprint) of a checkpoint on the resolved device and dtype: what the
    Embedder and the Reranker both load (fingerprint: files + adapter + dtype + max_length)."""
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    model, processor = load_weights(
        model_name_or_path,
        spec,
        adapter=adapter,
        dtype=torch_dtype,
        device=device,
        attn_implementation=attn_implementation,
    )
    return model, processor, fingerprint_model(model_name_or_path, adapter, torch_dtype, max_length)


def tiny_default_dir(backbone: str = DEFAULT_TINY_BACKBONE) -> Path:
    """Where the embedded default is built once (override with MME5_CACHE)."""
    return cache_root() / f"tiny-{backbone}"


def ensure_tiny(backbone: str = DEFAULT_TINY_BACKBONE) -> Path:
    """Build the embedded tiny backbone if it is not there yet, or was built by an older builder;
    return its folder. Built aside and renamed into place, so a reader never sees half a folder."""
    path = tiny_default_dir(backbone)
    try:
        if json.loads((path / "mme5_tiny.json").read_text()).get("builder") == BUILDER_VERSION:
            return path
    except (OSError, ValueError):
        pass
    fresh = build_tiny(backbone, path.with_name(f"{path.name}.{os.getpid()}.tmp"))
    shutil.rmtree(path, ignore_errors=True)
    try:
        fresh.rename(path)
    except OSError:  # another process put its build in place first: same seed, same folder
        shutil.rmtree(fresh, ignore_errors=True)
    return path
