"""Exports built once per session: a tiny backbone with an adapter whose B is random (non-zero), so
merging really changes the vectors, exported by the real `mme5.integrations` code."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ADAPTERS = {"qwen2_vl": False, "mllama": True}  # backbone -> use_dora
XTD_LANGS = ["it", "ja"]  # ja lives under STAIR/ with the file code jp: both layout branches


@pytest.fixture(scope="session")
def adapted(tiny_dirs, tmp_path_factory):
    """adapted("qwen2_vl") -> (base folder, adapter folder): LoRA on Qwen2-VL, DoRA on Mllama."""
    built: dict[str, tuple[Path, Path]] = {}

    def get(backbone: str) -> tuple[Path, Path]:
        if backbone not in built:
            import torch
            from peft import LoraConfig, get_peft_model

            from mme5 import Embedder

            base = tiny_dirs(backbone)
            embedder = Embedder.from_pretrained(base, device="cpu")
            torch.manual_seed(7)
            model = get_peft_model(embedder.model, LoraConfig(
                r=4, lora_alpha=8, init_lora_weights=False, use_dora=ADAPTERS[backbone],
                target_modules=list(embedder.backbone.lora_targets)))
            adapter = tmp_path_factory.mktemp(f"adapter-{backbone}")
            model.save_pretrained(adapter)
            built[backbone] = (base, adapter)
        return built[backbone]

    return get


@pytest.fixture(scope="session")
def exported(adapted, tmp_path_factory):
    """exported("mllama", "sentence-transformers") -> ExportResult (each export done once)."""
    done: dict[tuple[str, str], object] = {}

    def get(backbone: str, target: str):
        if (backbone, target) not in done:
            from mme5.integrations.export import export

            base, adapter = adapted(backbone)
            out = tmp_path_factory.mktemp(f"export-{backbone}-{target}")
            done[backbone, target] = export(base, out, target, adapter=adapter)
        return done[backbone, target]

    return get


@pytest.fixture(scope="session")
def reference(adapted):
    """reference("qwen2_vl") -> the adapter-on-base Embedder (merged at load time), the thing exported."""
    cache: dict[str, object] = {}

    def get(backbone: str):
        if backbone not in cache:
            from mme5 import Embedder

            base, adapter = adapted(backbone)
            cache[backbone] = Embedder.from_pretrained(base, adapter=adapter, device="cpu")
        return cache[backbone]

    return get


@pytest.fixture(scope="session")
def images():
    from PIL import Image

    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in [(40, 50), (64, 30), (90, 70)]]


@pytest.fixture(scope="session")
def xtd_layout(tmp_path_factory):
    """A 40-image XTD layout written from the packaged emoji data (CLDR names as captions)."""
    from mme5.data.emoji import load_emoji
    from mme5.evaluation.catalog import XTD_FILES

    records = [r for r in load_emoji().records if all(lang in r.names for lang in XTD_LANGS)][:40]
    root = tmp_path_factory.mktemp("xtd-layout")
    (root / "XTD10").mkdir()
    (root / "images").mkdir()
    names = [f"{r.id}.png" for r in records]
    for r, name in zip(records, names):
        r.image.save(root / "images" / name)
    (root / "XTD10" / "test_image_names.txt").write_text("\n".join(names) + "\n")
    for lang in XTD_LANGS:
        folder, code = XTD_FILES[lang]
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"test_1kcaptions_{code}.txt").write_text("\n".join(r.names[lang] for r in records) + "\n")
    return root


@pytest.fixture(scope="session")
def xtd_run(exported, xtd_layout, tmp_path_factory):
    """`mme5 eval xtd it ja` on the exported model: (model folder, run folder)."""
    from mme5.cli.main import main

    model = exported("qwen2_vl", "hf").out_dir
    run = tmp_path_factory.mktemp("xtd-run")
    assert main(["eval", "xtd", *XTD_LANGS, "--model", str(model), "--data-dir", str(xtd_layout),
                 "--output", str(run), "--no-cache", "--no-chart", "--device", "cpu"]) == 0
    return model, run
