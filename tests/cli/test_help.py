"""`--help` of every command and subcommand (found via mme5.cli.main.commands(), so new commands are
covered without editing this file): it exits 0, commands that load a model declare the shared model
flags, commands that take a config declare `--set` and document it."""
from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys

import pytest

from mme5.cli import options
from mme5.cli.main import build_parser, commands, main

MODEL_FLAGS = ("--model", "--adapter", "--dtype", "--device", "--max-length", "--batch-size")
# commands whose --model is not an encoder they load, and why
OTHER_MODEL_FLAG = {("quickstart",): "--model is the checkpoint to fine-tune (QuickstartConfig.base_model)",
                    ("rerank",): "--model is the reranker (cli.options.add_reranker_model_args)"}
# commands that run no batches, so declare no --batch-size (add_model_args(batches=False)), and why
NO_BATCHES = {("export",): "export merges and saves; it encodes nothing", ("index", "search"): "one query"}
# commands whose `--dtype auto` means something else than add_model_args' default, and what
AUTO_DTYPE = {("export",): "float32 on every device"}
DEFAULT_DEVICE = {("export",): "cpu"}  # export merges on the CPU unless told otherwise


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(argv prefix, parser) for every parser that runs something (those without subcommands)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


LEAVES = dict(_leaves(build_parser()))


def _reference_helps() -> dict[str, str | None]:
    """The help texts add_model_args gives the model flags (--batch-size's varies by command)."""
    ref = argparse.ArgumentParser()
    options.add_model_args(ref)
    return {flag: ref._option_string_actions[flag].help for flag in MODEL_FLAGS if flag != "--batch-size"}


def test_every_command_module_is_found():
    found = commands()
    assert {"embed", "eval", "serve", "train", "synthesize", "quickstart", "index", "demo", "init-tiny"} <= set(found)
    assert all(path[0] in found for path in LEAVES if path)


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_help_exits_zero_and_documents_the_shared_flags(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: mme5 {' '.join(path)}")
    parser = LEAVES[path]
    flags = parser._option_string_actions
    if "--model" in flags and path not in OTHER_MODEL_FLAG:  # a command that loads a model declares all model flags through add_model_args
        wanted = [f for f in MODEL_FLAGS if not (f == "--batch-size" and path in NO_BATCHES)]
        assert all(flag in flags for flag in wanted), f"mme5 {' '.join(path)}: use cli.options.add_model_args"
        assert ("--batch-size" in flags) == (path not in NO_BATCHES), f"mme5 {' '.join(path)}: unused --batch-size"
        for flag, help_text in _reference_helps().items():
            if flag == "--dtype" and path in AUTO_DTYPE:
                assert f"(default auto: {AUTO_DTYPE[path]}" in flags[flag].help, f"mme5 {' '.join(path)} --dtype"
                continue
            if flag == "--device" and path in DEFAULT_DEVICE:
                assert flags[flag].help.endswith(f"(default: {DEFAULT_DEVICE[path]})"), f"mme5 {' '.join(path)} --device"
                continue
            if flag == "--model":  # what runs without --model is the command's to say (model_default)
                help_text = help_text.split("(default: ")[0]
                assert flags[flag].help.startswith(help_text), f"mme5 {' '.join(path)} --model: declared outside add_model_args"
                continue
            assert flags[flag].help == help_text, f"mme5 {' '.join(path)} {flag}: declared outside add_model_args"
        assert all(flag in text for flag in wanted)
    takes_config = "--config" in flags or any(a.dest == "config" and not a.option_strings for a in parser._actions)
    if takes_config or "--set" in flags:  # one override syntax: --set KEY=VALUE, documented in the epilog
        assert takes_config and "--set" in flags, f"mme5 {' '.join(path)}: use cli.options.add_config_args"
        assert flags["--set"].dest == "overrides" and isinstance(flags["--set"], argparse._AppendAction)
        assert "config overrides:" in text and "--set KEY=VALUE" in text
        assert re.search(r"--set [a-z_.]+=\S+", text.split("config overrides:")[1])  # a concrete example


def test_no_command_declares_model_or_override_arguments_by_hand():
    """Loading a model and reading a config go through cli.options in every command module."""
    for name, module in commands().items():
        source = inspect.getsource(module)
        for call in ("load_embedder(", "Embedder.from_pretrained(", "load_config(", '"--dtype"', '"overrides", nargs'):
            assert call not in source, f"cli module of `mme5 {name}` uses {call} directly; use mme5.cli.options"


def test_help_examples_for_commands_with_a_config_are_real_keys():
    """The `--set` examples each help shows are accepted by that command's config class."""
    from mme5.config import load_config
    from mme5.evaluation.runner import EvalConfig
    from mme5.quickstart.config import QuickstartConfig
    from mme5.serving.settings import ServerSettings
    from mme5.synthesis.config import SynthesisConfig
    from mme5.training.config import TrainConfig

    classes = {("eval", "mmeb"): EvalConfig, ("serve",): ServerSettings, ("synthesize",): SynthesisConfig,
               ("train",): TrainConfig, ("quickstart",): QuickstartConfig}
    for path, cls in classes.items():
        epilog = LEAVES[path].epilog.split("config overrides:")[1]
        examples = re.findall(r"--set ([a-z_.]+=\S+)", epilog)
        assert examples, path
        load_config(cls, None, examples)  # raises ConfigError for an unknown key or a bad value


def test_parser_builds_without_heavy_imports():
    """One real process: `mme5 --help` works and building every command's parser imports no torch."""
    out = subprocess.run([sys.executable, "-m", "mme5.cli.main", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "COMMAND" in out.stdout, out.stderr
    probe = ("import sys; from mme5.cli.main import build_parser; build_parser(); "
             "print(sorted(m for m in ('torch', 'transformers', 'faiss', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"building the parser imported {out.stdout.strip()}: `--help` gets slow"
