"""The `mme5 train` / `mme5 eval` command lines that do what a quickstart run did, stage by stage."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from ..config import diff_configs, to_dict
from ..data.config import SourceConfig
from ..data.emoji import XTD_LANGUAGES
from ..evaluation.emoji import SPLITS, task_name
from ..training.config import TrainConfig
from .config import recipe

RECIPE_PATH = "configs/train/quickstart-emoji.yaml"


def train_overrides(train_cfg: TrainConfig) -> list[str]:
    """`key=value` overrides that turn the recipe file into `train_cfg` (YAML flow values)."""
    base, now = to_dict(recipe()), to_dict(train_cfg)
    return [f"{key}={json.dumps(_compact(key, _get(now, key)), ensure_ascii=False)}" for key in diff_configs(base, now)]


def equivalent_commands(
    train_cfg: TrainConfig, task_names: list[str], out: Path, views: tuple[str, ...] = ()
) -> list[str]:
    """[`mme5 train ...`, `mme5 eval tasks ...`] for this run folder (`views`: evaluation.views)."""
    every = [task_name(letter, lang) for letter in SPLITS for lang in XTD_LANGUAGES]
    tasks = ["emoji"] if sorted(task_names) == sorted(every) else task_names
    train = ["mme5", "train", RECIPE_PATH, *(arg for o in train_overrides(train_cfg) for arg in ("--set", o))]
    evaluate = [
        "mme5",
        "eval",
        "tasks",
        *tasks,
        "--model",
        train_cfg.output_dir,
        "--data-dir",
        str(out),
        "--output",
        str(out / "eval" / "cli"),
        *(["--set", f"views=[{','.join(views)}]"] if views else []),
    ]
    return [shlex.join(train), shlex.join(evaluate)]


def _get(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None  # type: ignore[assignment]
    return d


def _compact(key: str, value: Any) -> Any:
    """Sources without their default fields (`[{"path": ...}]`), other values as they are."""
    if key == "data.sources" and isinstance(value, list):
        return [
            {k: v for k, v in s.items() if v != to_dict(SourceConfig(path=s["path"]))[k] or k == "path"} for s in value
        ]
    return value
