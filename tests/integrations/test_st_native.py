"""`--to sentence-transformers`, native path: `SentenceTransformer(OUT)` with no extra argument, in a
fresh process that never imports mme5, gives `mme5 embed`'s vectors for texts, images and image+text
(both dict key orders), with the exported prompts; the Qwen-VL families keep mme5's input module."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mme5 import prompts

NATIVE = ["mllama", "idefics3", "llava_next"]
TEXTS = ["a black cat on a roof", "un chien qui court sous la pluie battante", "犬"]
# Runs in a fresh interpreter: only sentence-transformers, never mme5 (asserted at the end).
ST_SCRIPT = r"""
import json, sys
import numpy as np
from PIL import Image
from sentence_transformers import SentenceTransformer
spec = json.loads(sys.argv[1])
images = [Image.open(p) for p in spec["images"]]
for name, folder in spec["folders"].items():
    model = SentenceTransformer(folder, device="cpu")
    np.savez(f"{spec['out']}/{name}.npz",
             texts=model.encode(spec["texts"], prompt_name="t2i_query"),
             bare=model.encode(spec["texts"]),
             query=model.encode_query(spec["texts"]),
             images=model.encode(images, prompt_name="image_target"),
             document=model.encode_document(images),
             text_image=model.encode([{"text": "a dog", "image": images[0]}, {"text": "two dogs", "image": images[1]}],
                                     prompt_name="vqa_query"),
             image_text=model.encode([{"image": images[0], "text": "a dog"}, {"image": images[1], "text": "two dogs"}],
                                     prompt_name="vqa_query"))
assert not any(m == "mme5" or m.startswith("mme5.") for m in sys.modules), "mme5 was imported"
"""


@pytest.fixture(scope="module")
def native_exports(adapted, tiny_dirs, tmp_path_factory):
    """backbone -> native export folder (Mllama with its DoRA adapter merged, the others their base)."""
    from mme5.integrations.export import export

    folders = {}
    for backbone in NATIVE:
        base, adapter = adapted(backbone) if backbone == "mllama" else (tiny_dirs(backbone), None)
        out = tmp_path_factory.mktemp(f"st-native-{backbone}")
        folders[backbone] = export(base, out, "sentence-transformers", adapter=adapter).out_dir
    return folders


@pytest.fixture(scope="module")
def image_files(images, tmp_path_factory):
    root = tmp_path_factory.mktemp("st-images")
    paths = [root / f"{i}.png" for i in range(len(images))]
    for img, path in zip(images, paths):
        img.save(path)
    return paths


@pytest.fixture(scope="module")
def st_vectors(native_exports, image_files, tmp_path_factory):
    """Every native export encoded by sentence-transformers alone, in one fresh subprocess."""
    out = tmp_path_factory.mktemp("st-vectors")
    spec = {"folders": {k: str(v) for k, v in native_exports.items()}, "images": [str(p) for p in image_files],
            "texts": TEXTS, "out": str(out)}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mme5 not importable from src/
    done = subprocess.run([sys.executable, "-c", ST_SCRIPT, json.dumps(spec)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: dict(np.load(out / f"{name}.npz")) for name in native_exports}


def _mme5_embed(model: Path, rows: list[dict], tmp_path: Path) -> np.ndarray:
    """`mme5 embed --input rows.jsonl --model MODEL`: the vectors the CLI writes."""
    from mme5.cli.main import main

    src, out = tmp_path / "rows.jsonl", tmp_path / "vectors.npy"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["embed", "--input", str(src), "--model", str(model), "--output", str(out), "--device", "cpu"]) == 0
    return np.load(out)


@pytest.mark.parametrize("backbone", NATIVE)
def test_sentence_transformer_alone_equals_mme5_embed(backbone, native_exports, st_vectors, image_files, tmp_path):
    folder = native_exports[backbone]
    modules = json.loads((folder / "modules.json").read_text())
    assert all(m["type"].startswith("sentence_transformers.") for m in modules)
    assert "model = SentenceTransformer('.')" in (folder / "README.md").read_text()  # the card says how
    p = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert p["query"] == prompts.FIND_IMAGE_FOR_CAPTION and p["document"] == prompts.REPRESENT_IMAGE
    imgs = [str(x) for x in image_files]
    rows = ([{"text": t, "instruction": p["t2i_query"]} for t in TEXTS] + [{"text": t} for t in TEXTS]
            + [{"image": i, "instruction": p["image_target"]} for i in imgs]
            + [{"text": t, "image": i, "instruction": p["vqa_query"]} for t, i in zip(["a dog", "two dogs"], imgs)])
    want = _mme5_embed(folder, rows, tmp_path)
    got = st_vectors[backbone]
    n, m = len(TEXTS), len(imgs)
    np.testing.assert_allclose(got["texts"], want[:n], atol=1e-5)
    np.testing.assert_allclose(got["query"], want[:n], atol=1e-5)  # encode_query applies the `query` prompt
    np.testing.assert_allclose(got["bare"], want[n:2 * n], atol=1e-5)
    np.testing.assert_allclose(got["images"], want[2 * n:2 * n + m], atol=1e-5)
    np.testing.assert_allclose(got["document"], want[2 * n:2 * n + m], atol=1e-5)
    np.testing.assert_allclose(got["text_image"], want[2 * n + m:], atol=1e-5)
    np.testing.assert_allclose(got["image_text"], want[2 * n + m:], atol=1e-5)  # key order does not matter
    assert np.abs(want[:n] - want[n:2 * n]).max() > 1e-3, "the prompt must change the vectors"


def test_qwen_vl_keeps_the_mme5_input_module(exported):
    """Qwen2-VL's processor needs torchvision through AutoProcessor: the export keeps mme5's module,
    which sentence-transformers loads only through mme5's helper (or trust_remote_code)."""
    from sentence_transformers import SentenceTransformer

    out = exported("qwen2_vl", "sentence-transformers").out_dir
    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["MME5Input", "Pooling", "Normalize"]
    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(out))
    assert "load_sentence_transformer" in (out / "README.md").read_text()


def test_supported_version_range_is_pinned_and_installed():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    from mme5.integrations.st_native import SUPPORTED_VERSIONS

    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    export_extra = re.search(r"^export = \[(.*)\]$", pyproject, re.M).group(1)
    pinned = [Requirement(r) for r in re.findall(r'"([^"]+)"', export_extra)]
    spec = next(r.specifier for r in pinned if r.name == "sentence-transformers")
    assert str(spec) == str(Requirement(f"x{SUPPORTED_VERSIONS}").specifier)
    assert version("sentence-transformers") in spec
