"""Markers: `--strict-markers` is on, and tests marked `gpu` are skipped with a reason without a CUDA device."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch  # before pytester snapshots sys.modules: torch cannot be imported twice in one process

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings", "timeout"}


def _registered(config: pytest.Config) -> set[str]:
    return {line.split(":")[0].strip() for line in config.getini("markers")}


def test_strict_markers_and_every_used_marker_is_registered(pytestconfig):
    assert "--strict-markers" in pytestconfig.getini("addopts")
    used = set()
    for path in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("benchmarks/**/*.py")]:
        used |= set(re.findall(r"pytest\.mark\.([A-Za-z_]\w*)", path.read_text(encoding="utf-8")))
    assert used - BUILTIN <= _registered(pytestconfig), f"unregistered: {sorted(used - BUILTIN - _registered(pytestconfig))}"


@pytest.mark.parametrize("cuda", [False, True])
def test_gpu_tests_skip_without_cuda(cuda, pytester, monkeypatch):
    """The real conftest hook on a real test session: gpu tests skip (with the reason) only without CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nmarkers =\n    gpu: needs a CUDA device\naddopts = --strict-markers\n")
    pytester.makepyfile(test_x="""
import pytest

@pytest.mark.gpu
def test_on_gpu():
    pass

def test_anywhere():
    pass
""")
    result = pytester.runpytest("-rs")
    if cuda:
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*marked gpu: needs a CUDA device*"])
