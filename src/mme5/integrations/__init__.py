"""Hand an mme5 model to the tools users already run: transformers (a merged checkpoint),
sentence-transformers, mteb, vLLM's pooling runner, ONNX Runtime and the hub.

Depends on `mme5.model`; nothing in `mme5.model` imports this package. Each target module
imports its tool lazily, so `mme5 export --to hf` needs none of them."""

from __future__ import annotations

from .profile import PROFILE_FILE, EmbeddingProfile, read_profile

__all__ = ["PROFILE_FILE", "EmbeddingProfile", "read_profile"]
