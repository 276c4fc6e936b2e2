"""One export: merge into a plain checkpoint (`hf`), then add what the chosen tool needs, then the
model card; each target is a registry entry, so a new tool is one function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..types import InputError
from .profile import EmbeddingProfile, read_profile

if TYPE_CHECKING:  # torch stays unimported until an export runs: `mme5 --help` builds this parser
    from ..model.embedder import Embedder

TargetFn = Callable[["Embedder", Path, EmbeddingProfile], list[str]]


def _hf(embedder: Embedder, out: Path, profile: EmbeddingProfile) -> list[str]:
    if profile.formatting_profile != "mme5":
        return [
            f"transformers: Embedder.from_pretrained('{out}', profile='{profile.formatting_profile}') "
            "(mme5.model.profiles): the vectors need that formatting profile"
        ]
    return [
        f"transformers: Embedder.from_pretrained('{out}') (mme5) or {profile.spec.model_class().__name__}"
        ".from_pretrained + last-token pooling + L2, formatting per mme5_embedding.json"
    ]


def _sentence_transformers(embedder: Embedder, out: Path, profile: EmbeddingProfile) -> list[str]:
    from .sentence_transformers import export_sentence_transformers

    return [export_sentence_transformers(embedder, out, profile)]


def _vllm(embedder: Embedder, out: Path, profile: EmbeddingProfile) -> list[str]:
    from .vllm import export_vllm

    return export_vllm(out, profile)


def _onnx(embedder: Embedder, out: Path, profile: EmbeddingProfile) -> list[str]:
    from .onnx import export_onnx

    return export_onnx(embedder, out)


TARGETS: dict[str, TargetFn] = {
    "hf": _hf,
    "sentence-transformers": _sentence_transformers,
    "vllm": _vllm,
    "onnx": _onnx,
}


PROFILE_EXCEPTIONS = {"vllm": ("qwen3-vl-embedding",)}
"""Profiles a target reproduces besides mme5's: vLLM serves Qwen3-VL-Embedding checkpoints natively."""
ONLY_MME5_PROFILE = {
    "vllm": "vLLM's Qwen-VL models compute M-RoPE positions themselves; vlm2vec-v2 feeds 1-D positions",
    "onnx": "the ONNX graph takes input ids and mask only, not a profile's position ids",
}


@dataclass
class ExportResult:
    """What an export wrote and what the user should know about it (printed by the CLI)."""

    out_dir: Path
    target: str
    profile: EmbeddingProfile | None
    """None for a reranker export (it has no embedding profile)."""
    notes: list[str] = field(default_factory=list)


def export(
    model: str | Path,
    out_dir: str | Path,
    target: str,
    *,
    adapter: str | Path | None = None,
    dtype: str = "float32",
    max_length: int | None = None,
    results: str | Path | None = None,
    model_name: str | None = None,
    profile: str | None = None,
    device: str | None = None,
) -> ExportResult:
    """Merge + save (`hf`), then the target's files and the model card (README.md; titled `model_name`,
    default the folder name)."""
    if target not in TARGETS:
        raise InputError(f"unknown export target {target!r}; choose one of: {', '.join(TARGETS)}")
    from ..model.rerank_format import is_reranker
    from .card import write_model_card
    from .hf import export_hf

    if target == "vllm" and is_reranker(model):
        from .vllm_rerank import export_vllm_reranker

        reranker = export_vllm_reranker(model, out_dir, adapter=adapter, dtype=dtype, device=device)
        return ExportResult(reranker.out_dir, target, None, reranker.notes)

    if target == "vllm" and Path(model).is_dir():  # refuse before the (long) merge
        from ..model.backbones import detect_backbone
        from .vllm import check_vllm_backbone

        check_vllm_backbone(detect_backbone(model).name)

    if profile not in (None, "mme5", *PROFILE_EXCEPTIONS.get(target, ())) and target in ONLY_MME5_PROFILE:
        raise InputError(
            f"--to {target} reproduces the mme5 formatting profile only ({ONLY_MME5_PROFILE[target]}); "
            f"export the {profile!r} profile with --to hf or --to sentence-transformers"
        )
    out, embedder = export_hf(
        model, out_dir, adapter=adapter, dtype=dtype, max_length=max_length, profile=profile, device=device
    )
    written = read_profile(out)
    notes = TARGETS[target](embedder, out, written)
    write_model_card(out, written, target=target, results=results, model_name=model_name)
    return ExportResult(out, target, written, notes)
