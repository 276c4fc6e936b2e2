"""`--config FILE` + `--set KEY=VALUE` + explicit flags resolve the same way in every command."""
from __future__ import annotations

from pathlib import Path

import pytest

from mme5.cli.main import build_parser
from mme5.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_serve_settings_file_then_set_then_flags(tmp_path):
    from mme5.cli.serve import settings_from_args
    from mme5.serving.settings import ServerSettings

    (tmp_path / "serve.yaml").write_text("max_items: 64\nmax_wait_ms: 1.5\nmax_batch_size: 8\n")
    args = build_parser().parse_args(["serve", "--config", str(tmp_path / "serve.yaml"), "--set", "max_items=32",
                                      "--set", "max_text_chars=100", "--batch-size", "4"])
    settings = settings_from_args(args)
    default = ServerSettings()
    assert (settings.max_items, settings.max_wait_ms, settings.max_text_chars) == (32, 1.5, 100)
    assert settings.max_batch_size == 4  # --batch-size wins over the file
    assert settings.max_queue_items == default.max_queue_items and settings.model_name == "mme5-tiny"
    args = build_parser().parse_args(["serve", "--set", "model_name=mine", "--set", "max_batch_size=16"])
    assert (settings_from_args(args).model_name, settings_from_args(args).max_batch_size) == ("mine", 16)
    args = build_parser().parse_args(["serve", "--set", "max_batch_size=0"])
    with pytest.raises(ConfigError, match="max_batch_size must be > 0"):
        settings_from_args(args)


def test_train_set_overrides_the_recipe_in_order():
    from mme5.cli.options import config_from_args
    from mme5.training.config import TrainConfig

    recipe = str(ROOT / "configs/train/tiny.yaml")
    args = build_parser().parse_args(["train", recipe, "--set", "max_steps=3", "--dry-run", "--set", "max_steps=7",
                                      "--set", "model.max_length=64"])
    cfg = config_from_args(TrainConfig, args)
    assert args.dry_run and cfg.max_steps == 7 and cfg.model.max_length == 64
    plain = config_from_args(TrainConfig, build_parser().parse_args(["train", recipe]))
    assert cfg.learning_rate == plain.learning_rate  # untouched keys keep the recipe's values


def test_bare_key_value_is_no_longer_accepted(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", str(ROOT / "configs/train/tiny.yaml"), "max_steps=3"])
    assert exit_info.value.code == 2 and "unrecognized arguments: max_steps=3" in capsys.readouterr().err


def _config_classes() -> dict[str, type]:
    from mme5.evaluation.runner import EvalConfig
    from mme5.quickstart.config import QuickstartConfig
    from mme5.serving.settings import ServerSettings
    from mme5.synthesis.config import SynthesisConfig
    from mme5.training.config import TrainConfig

    return {"eval": EvalConfig, "serve": ServerSettings, "train": TrainConfig, "synthesize": SynthesisConfig,
            "quickstart": QuickstartConfig}


def _has_key(cls: type, dotted: str) -> bool:
    """Does the (nested) dataclass `cls` have the field `a.b.c`?"""
    import dataclasses
    import typing

    for part in dotted.split("."):
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            return False
        hints = typing.get_type_hints(cls)
        if part not in hints:
            return False
        cls = hints[part]
    return True


def test_every_set_example_in_the_docs_names_a_real_key():
    """`--set KEY=...` in README.md and docs/*.md: the key exists in that command's config class (the
    command is the `mme5 CMD` on the same line or the line a `\\` continues, else the page's own command)."""
    import re

    classes = _config_classes()
    page_command = {"quickstart.md": "quickstart", "serving.md": "serve", "evaluation.md": "eval",
                    "training.md": "train", "synthesis.md": "synthesize"}
    checked, wrong = 0, []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        continued = None
        for lineno, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            keys = re.findall(r"--set ['\"]?([A-Za-z_][\w.]*)=", line)
            named = re.findall(r"mme5 (eval|serve|train|synthesize|quickstart)\b", line)
            command = named[-1] if named else continued or page_command.get(page.name)
            continued = command if line.rstrip().endswith("\\") and (named or continued) else None
            if not keys or command is None:
                continue
            for key in keys:
                if key.isupper() or key in ("key", "a.b"):  # a placeholder (`--set key=value`), not an example
                    continue
                checked += 1
                if not _has_key(classes[command], key):
                    wrong.append(f"{page.name}:{lineno}: `mme5 {command} --set {key}=...`")
    assert checked >= 8 and not wrong, wrong
