"""docs/cli.md is true: every `mme5` line in its bash blocks runs with the tiny model (built once,
under a module-wide $MME5_CACHE) and exits 0; the `--set` lines of commands that train, synthesize,
evaluate on data or serve are parsed and their overrides validated against the config class. And the
index commands print results only: no third-party INFO line on stdout or stderr (a real process)."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
SRC = Path(__file__).resolve().parents[2] / "src"


def _config_class(command: str) -> type:
    """The config a `--set` example of `command` must validate against."""
    from mme5.evaluation.runner import EvalConfig
    from mme5.quickstart.config import QuickstartConfig
    from mme5.serving.settings import ServerSettings
    from mme5.synthesis.config import SynthesisConfig
    from mme5.training.config import TrainConfig

    return {"train": TrainConfig, "synthesize": SynthesisConfig, "quickstart": QuickstartConfig, "eval": EvalConfig,
            "serve": ServerSettings}[command]


CONFIG_ONLY = ("train", "synthesize", "quickstart", "eval", "serve")  # minutes of work or a server: validated


def documented_commands() -> list[list[str]]:
    """argv (after `mme5`) of every `mme5 ...` line in docs/cli.md's bash blocks, in page order."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "mme5":
                lines.append(words[1:])
    return lines


COMMANDS = documented_commands()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with what the examples name (cat.png, photos/, items.jsonl, rows.jsonl) and its own $MME5_CACHE."""
    root = tmp_path_factory.mktemp("cli-docs")
    assets = Path(str(resources.files("mme5").joinpath("assets")))
    shutil.copy(assets / "cat.png", root / "cat.png")
    (root / "photos").mkdir()
    for name in ("cat.png", "dog.png", "apple.png"):
        shutil.copy(assets / name, root / "photos" / name)
    (root / "items.jsonl").write_text('{"text": "a black cat"}\n{"image": "cat.png", "instruction": "Represent the given image."}\n')
    (root / "rows.jsonl").write_text("".join(  # training rows for `mme5 mine`
        f'{{"qry": "a photo of {name}", "qry_image_path": "", "pos_text": "", "pos_image_path": "photos/{name}.png"}}\n'
        for name in ("cat", "dog", "apple")))
    before = os.environ.get("MME5_CACHE")
    os.environ["MME5_CACHE"] = str(root / "cache")
    yield root
    if before is None:
        os.environ.pop("MME5_CACHE", None)
    else:
        os.environ["MME5_CACHE"] = before


def test_the_page_documents_every_command():
    from mme5.cli.main import commands

    assert {argv[0] for argv in COMMANDS} >= set(commands()) - {"data"}  # data builds from fonts and CLDR


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a)[:60])
def test_documented_example_runs(argv, workspace, monkeypatch, capsys):
    from mme5.cli.main import build_parser, main

    monkeypatch.chdir(workspace)
    if argv[0] in CONFIG_ONLY:  # their config paths (configs/...) are the repository's
        from mme5.config import load_config

        monkeypatch.chdir(SRC.parent)

        args = build_parser().parse_args(argv)
        load_config(_config_class(argv[0]), getattr(args, "config", None), args.overrides)
        return
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.strip(), f"mme5 {' '.join(argv)} printed no result"


THIRD_PARTY = re.compile(r"^(INFO|DEBUG|WARNING) (?!mme5)|faiss\.loader|swigfaiss|Setting accelerator|core_worker|Loading weights")


def test_index_build_and_search_print_no_third_party_line(workspace, tmp_path):
    """Real processes, as a user runs them: stdout is the result line(s), stderr has no library INFO."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "MME5_CACHE": str(workspace / "cache")}

    def mme5(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mme5.cli.main", *args], capture_output=True, text=True,
                              env=env, cwd=workspace, timeout=600)

    build = mme5("index", "build", "--input", "photos", "--output", str(tmp_path / "idx"))
    assert build.returncode == 0, build.stderr
    assert build.stdout.splitlines() == [build.stdout.strip()] and build.stdout.startswith("indexed 3 items")
    assert "exact search" in build.stdout and "recall" not in build.stdout
    search = mme5("index", "search", str(tmp_path / "idx"), "--text", "a black cat", "--top-k", "2")
    assert search.returncode == 0, search.stderr
    assert [line.split()[0] for line in search.stdout.splitlines()] == ["1", "2"]
    for run in (build, search):
        noisy = [line for line in (run.stdout + run.stderr).splitlines() if THIRD_PARTY.search(line)]
        assert not noisy, noisy
        assert "resuming" not in run.stderr  # a fresh build resumes nothing
    again = mme5("--verbose", "index", "build", "--input", "photos", "--output", str(tmp_path / "idx"))
    assert "resuming: 1 of 1 vector shards already written" in again.stderr
    assert "faiss.loader" in again.stderr  # the quiet default hides it; --verbose shows it
