"""Registry of synthesis backends: `openai` (any OpenAI-compatible server) and `local`
(transformers + outlines). Heavy imports happen only when a backend is made."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ...config import ConfigError
from ..config import BackendConfig
from .base import Backend, BackendError, Generation


def _openai(config: BackendConfig) -> Backend:
    from .openai import OpenAIBackend

    return OpenAIBackend(config.openai)


def _local(config: BackendConfig) -> Backend:
    from .local import LocalBackend

    return LocalBackend(config.local)


BACKENDS: Mapping[str, Callable[[BackendConfig], Backend]] = {"openai": _openai, "local": _local}


def make_backend(config: BackendConfig) -> Backend:
    if config.kind not in BACKENDS:
        raise ConfigError(f"backend.kind: unknown {config.kind!r}; choose one of {sorted(BACKENDS)}")
    return BACKENDS[config.kind](config)


__all__ = ["BACKENDS", "Backend", "BackendError", "Generation", "make_backend"]
