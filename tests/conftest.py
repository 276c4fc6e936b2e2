"""Shared fixtures: offline environment, tiny backbones built once per session, real data paths."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EMOJI_DIR = SHARED / "data" / "emoji_cldr"
XTD10_DIR = SHARED / "data" / "xtd10"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked `gpu` when no CUDA device is present (torch is imported only if there are any)."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="marked gpu: needs a CUDA device, and torch.cuda.is_available() is False here")
    for item in gpu_tests:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """Build each tiny backbone at most once per test session: tiny_dirs("mllama") -> folder."""
    root = tmp_path_factory.mktemp("tiny")
    built: dict[str, Path] = {}

    def get(backbone: str) -> Path:
        if backbone not in built:
            from mme5.model.tiny import build_tiny

            built[backbone] = build_tiny(backbone, root / backbone)
        return built[backbone]

    return get


@pytest.fixture(scope="session")
def tiny_embedder(tiny_dirs):
    """Loaded tiny Embedders, cached per backbone: tiny_embedder("qwen2_vl")."""
    cache = {}

    def get(backbone: str = "mllama"):
        if backbone not in cache:
            from mme5 import Embedder

            cache[backbone] = Embedder.from_pretrained(tiny_dirs(backbone), device="cpu")
        return cache[backbone]

    return get


@pytest.fixture(scope="session")
def emoji_dir() -> Path:
    if not (EMOJI_DIR / "emoji.jsonl").is_file():
        pytest.skip(f"real emoji data not found at {EMOJI_DIR} (../shared is absent)")
    return EMOJI_DIR


@pytest.fixture(scope="session")
def xtd10_dir() -> Path:
    if not (XTD10_DIR / "XTD10").is_dir():
        pytest.skip(f"XTD-10 caption files not found at {XTD10_DIR} (../shared is absent)")
    return XTD10_DIR


@pytest.fixture
def rgb_images():
    """Deterministic random RGB images of assorted sizes (PIL)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in [(40, 50), (60, 30), (28, 28), (90, 70)]]
