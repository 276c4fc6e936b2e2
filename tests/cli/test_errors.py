"""User errors print one clean line and exit 2; anything else is a bug and keeps its traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mme5.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _user_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_user_errors_are_one_clean_line(tmp_path, capsys):
    command = lambda err: err.split(":", 1)[0]  # noqa: E731
    err = _user_error(["eval", "report", str(tmp_path / "no-run")], capsys)  # a folder the user named (MissingFileError)
    assert command(err) == "mme5 eval" and "no-run holds no task results" in err
    err = _user_error(["train", str(ROOT / "configs/train/tiny.yaml"), "--dry-run", "--set", "lerning_rate=1"], capsys)
    assert err.startswith("mme5 train: error: TrainConfig: unknown key(s) ['lerning_rate'] (did you mean learning_rate?)")
    err = _user_error(["train", str(tmp_path / "missing.yaml")], capsys)  # ConfigError
    assert err == f"mme5 train: error: config file not found: {tmp_path / 'missing.yaml'}\n"
    err = _user_error(["init-tiny", "--backbone", "mlama", str(tmp_path / "x")], capsys)  # a registry name
    assert "unknown backbone 'mlama'" in err and "Did you mean mllama?" in err
    err = _user_error(["serve", "--set", "max_items=0"], capsys)  # a bad setting, refused before loading
    assert "max_items must be > 0" in err
    err = _user_error(["embed", "--output", str(tmp_path / "v.npy")], capsys)  # InputError
    assert err.startswith("mme5 embed: error: nothing to embed: give --input, --text") and err.count("\n") == 1


def test_a_model_or_adapter_that_is_not_there_is_a_user_error(tiny_dirs, tmp_path, capsys):
    model = str(tiny_dirs("mllama"))
    capsys.readouterr()  # building the tiny model reports progress on stderr
    argv = ["embed", "--text", "a", "--output", str(tmp_path / "v.npy")]
    err = _user_error([*argv, "--model", "no-such-owner/no-such-model"], capsys)  # offline: neither hub nor cache
    assert err.startswith("mme5 embed: error: model 'no-such-owner/no-such-model' is not a local folder")
    err = _user_error([*argv, "--model", model, "--adapter", str(tmp_path / "lora")], capsys)
    assert err == f"mme5 embed: error: adapter folder not found: {tmp_path / 'lora'}\n"
    err = _user_error([*argv, "--model", model, "--dtype", "fp8"], capsys)
    assert "unknown dtype 'fp8'" in err
    assert not (tmp_path / "v.npy").exists()


def test_bad_flag_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["embed", "--text", "a", "--output", "v.npy", "--max-length", "0"])
    assert exit_info.value.code == 2
    assert "argument --max-length: must be >= 1, got 0" in capsys.readouterr().err


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, capsys, monkeypatch):
    assert main(["--debug", "eval", "report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "MissingFileError" in err and err.rstrip().endswith("run `mme5 eval ...` first")
    monkeypatch.setenv("MME5_DEBUG", "1")
    assert main(["eval", "report", str(tmp_path)]) == 2
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("bug", [KeyError("tokenizer"), ValueError("shapes (3,) and (4,) not aligned"), TypeError("x")])
def test_a_bug_is_not_disguised_as_a_user_error(bug, monkeypatch):
    import mme5.cli.demo as demo

    def broken(args):
        raise bug

    monkeypatch.setattr(demo, "run", broken)
    with pytest.raises(type(bug)):
        main(["demo"])


def test_a_bug_prints_its_traceback_and_exits_1():
    """One real process: the interpreter prints the traceback of an exception main() lets through."""
    code = ("import sys, mme5.cli.demo as demo\n"
            "def broken(args):\n    return {}['no-such-key']\n"
            "demo.run = broken\n"
            "from mme5.cli.main import main\nsys.exit(main(['demo']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr and "in broken" in out.stderr
    assert out.stderr.rstrip().endswith("KeyError: 'no-such-key'") and "mme5 demo: error" not in out.stderr
