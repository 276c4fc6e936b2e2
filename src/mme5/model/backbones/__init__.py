"""Registry of backbone families; add a family by adding a module and listing it here."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from ...config import ConfigError
from ...types import MissingFileError
from . import idefics3, llava_next, mllama, qwen2_5_vl, qwen2_vl, qwen3_vl
from .base import Backbone, TinySizes, TinySpec

BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        mllama.BACKBONE,
        qwen2_vl.BACKBONE,
        qwen2_5_vl.BACKBONE,
        qwen3_vl.BACKBONE,
        idefics3.BACKBONE,
        llava_next.BACKBONE,
    )
}


class UnknownBackboneError(ConfigError, KeyError):
    """A backbone name (flag or config key) that no registered family answers to; lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def get_backbone(name: str) -> Backbone:
    """Look a family up by registry name or by a config's `model_type`."""
    if name in BACKBONES:
        return BACKBONES[name]
    for backbone in BACKBONES.values():
        if name in backbone.model_types:
            return backbone
    close = difflib.get_close_matches(name, list(BACKBONES), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownBackboneError(f"unknown backbone {name!r}. Supported: {', '.join(sorted(BACKBONES))}.{hint}")


def detect_backbone(model_dir: str | Path) -> Backbone:
    """Read `config.json` of a local folder and return its family."""
    config_path = Path(model_dir) / "config.json"
    if not config_path.is_file():
        raise MissingFileError(f"{model_dir}: no config.json; is this a Hugging Face model folder?")
    model_type = json.loads(config_path.read_text())["model_type"]
    return get_backbone(model_type)


__all__ = ["BACKBONES", "Backbone", "TinySizes", "TinySpec", "UnknownBackboneError", "detect_backbone", "get_backbone"]
