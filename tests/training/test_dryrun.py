"""`mme5 train --dry-run` against the hub: an unreachable hub falls back to the offline checks, and
subset names are checked (the released names offline, the hub's configs online)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "configs/train/mmE5-llama-11b.yaml")


@pytest.fixture
def hub(monkeypatch):
    """Online mode with HfApi answered here: hub(fail=True) -> list of the calls made."""
    import httpx2
    from huggingface_hub import HfApi

    monkeypatch.chdir(ROOT)  # the recipe names its DeepSpeed file relative to the repository root
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)

    def make(*, fail: bool = False, configs: tuple[str, ...] = ()):
        calls = []

        def answer(method):
            def call(self, repo_id, **kwargs):
                calls.append((method, repo_id))
                if fail:
                    raise httpx2.ConnectError("[Errno -2] Name or service not known")
                return SimpleNamespace(config={"model_type": "mllama"},
                                       card_data=SimpleNamespace(configs=[{"config_name": c} for c in configs]))
            return call

        monkeypatch.setattr(HfApi, "model_info", answer("model_info"))
        monkeypatch.setattr(HfApi, "dataset_info", answer("dataset_info"))
        return calls

    return make


def test_unreachable_hub_falls_back_to_offline_checks(hub, capsys):
    from mme5.cli.main import main

    calls = hub(fail=True)
    assert main(["train", RECIPE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run OK" in out and "not contacted: hub unreachable, ConnectError" in out
    assert "mmE5-MMEB-hardneg/DocVQA: hub dataset (not contacted: hub unreachable, ConnectError; subset name is " \
           "a released one)" in out
    assert len(calls) == 1  # the first failure is remembered, not retried per subset


@pytest.mark.parametrize("source, subset, hint", [
    ("intfloat/mmE5-MMEB-hardneg", "DocVQAA", "did you mean 'DocVQA'"),
    ("intfloat/mmE5-synthetic", "retrieval", "did you mean 'Retrieval'"),
    ("intfloat/mmE5-synthetic", "Zzz", "released subsets: Classification, Retrieval, VQA"),
])
def test_offline_unknown_subset_of_a_released_set_is_an_error(source, subset, hint, capsys, monkeypatch):
    from mme5.cli.main import main

    monkeypatch.chdir(ROOT)
    assert main(["train", RECIPE, "--dry-run", "--set", f"data.sources=[{{path: {source}, subsets: [{subset}]}}]"]) == 2
    err = capsys.readouterr().err
    assert f"no subset {subset!r}" in err and hint in err


def test_online_subsets_are_checked_against_the_hub(hub, capsys):
    from mme5.cli.main import main

    calls = hub(configs=("DocVQA", "ChartQA"))
    source = "data.sources=[{path: intfloat/mmE5-MMEB-hardneg, subsets: [DocVQA, ChartQA]}]"
    assert main(["train", RECIPE, "--dry-run", "--set", source]) == 0
    assert "mmE5-MMEB-hardneg/ChartQA: hub dataset, found on the hub" in capsys.readouterr().out
    assert calls.count(("dataset_info", "intfloat/mmE5-MMEB-hardneg")) == 1
    assert main(["train", RECIPE, "--dry-run", "--set", source.replace("ChartQA]", "ChartQ]")]) == 2
    assert "no subset 'ChartQ'; did you mean 'ChartQA'? (subsets on the hub: DocVQA, ChartQA)" in capsys.readouterr().err
