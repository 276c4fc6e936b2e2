"""`mme5 synthesize CONFIG [--set key=value ...]`: the shipped configs load, a run prints its summary,
bad settings exit with code 2 and a message naming the key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mme5.cli.main import main
from mme5.config import load_config, to_dict
from mme5.synthesis.config import SynthesisConfig
from fixtures.stub_server import StubChatServer, StubReply

from .conftest import api_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "synthesis").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load(path):
    config = load_config(SynthesisConfig, path)
    assert config.backend.kind in ("openai", "local")
    assert "mme5 synthesize" in path.read_text()  # each config says how to run it


def test_tiny_local_needs_nothing_outside_the_package():
    config = load_config(SynthesisConfig, next(p for p in CONFIGS if p.stem == "tiny-local"))
    assert config.pool.sources == () and config.pool.generate > 0
    assert config.backend.kind == "local" and config.backend.local.model is None


def test_cli_run_and_errors(tmp_path, scripted, capsys):
    with StubChatServer(scripted) as server:
        config = api_config(tmp_path / "run", [server.base_url], 4)
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(to_dict(config)), encoding="utf-8")
        assert main(["synthesize", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "accepted 4 / requested 4" in out and "stats.json" in out
    assert json.loads((tmp_path / "run" / "stats.json").read_text())["accepted"] == 4

    assert main(["synthesize", str(path), "--set", "num_samples=0"]) == 2
    assert "num_samples must be >= 1" in capsys.readouterr().err
    assert main(["synthesize", str(path), "--set", "backend.kind=carrier-pigeon", "--set", "num_samples=5"]) == 2
    assert "backend.kind" in capsys.readouterr().err
    assert main(["synthesize", str(path), "--set", "plan.language_weights={en: 1}"]) == 2
    assert "another plan" in capsys.readouterr().err
    assert main(["synthesize", str(tmp_path / "missing.yaml")]) == 2

    def unauthorised(request):
        return StubReply(status=401, body='{"error": {"message": "invalid api key"}}')

    with StubChatServer(unauthorised) as server:
        assert main(["synthesize", str(path), "--set", "num_samples=6", "--set", f"backend.openai.base_urls=[{server.base_url}]"]) == 1
    err = capsys.readouterr().err
    assert "http_401" in err and "run the same command again" in err
