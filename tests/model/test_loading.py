"""Loading: the one dtype resolver, model names vs paths, folder checks, the embedded tiny default."""

import shutil

import pytest
import torch

from mme5 import Embedder
from mme5.config import ConfigError
from mme5.model.loading import looks_like_a_path, resolve_dtype


def test_one_dtype_resolver():
    assert resolve_dtype("auto", "cuda:1") is torch.bfloat16 and resolve_dtype(None, "cpu") is torch.float32
    assert resolve_dtype("bf16", "cpu") is torch.bfloat16 and resolve_dtype("fp16") is torch.float16
    assert resolve_dtype(torch.float16, "cpu") is torch.float16
    expected = torch.bfloat16 if torch.cuda.is_available() else torch.float32  # no device: where it would run
    assert resolve_dtype("auto") is expected
    with pytest.raises(ConfigError, match="unknown dtype 'int8'"):
        resolve_dtype("int8", "cpu")


@pytest.mark.parametrize(
    "name, is_path",
    [
        ("intfloat/mmE5-mllama-11b-instruct", False),
        ("gpt2", False),
        ("./model", True),
        ("/abs/model", True),
        ("a/b/c", True),
        ("~/m", True),
        ("win\\path", True),
    ],
)
def test_hub_ids_and_paths(name, is_path):
    assert looks_like_a_path(name) == is_path


def test_a_missing_folder_is_named(tmp_path):
    from mme5.types import MissingFileError

    with pytest.raises(MissingFileError, match="model folder not found: .*nope"):
        Embedder.from_pretrained(str(tmp_path / "nope" / "deeper"), device="cpu")


def test_load_embedder_defaults_to_the_embedded_tiny_model(tmp_path, monkeypatch):
    import mme5
    from mme5.model.embedder import load_embedder
    from mme5.model.loading import tiny_default_dir

    monkeypatch.setenv("MME5_CACHE", str(tmp_path))
    assert mme5.load_embedder is load_embedder
    embedder = load_embedder(None, device="cpu", dtype="auto")
    assert embedder.backbone.name == "mllama" and embedder.model.dtype == torch.float32
    assert embedder.fingerprint == Embedder.from_pretrained(tiny_default_dir(), device="cpu").fingerprint


def test_folder_without_processor_says_what_is_missing(tiny_dirs, tmp_path):
    src = tiny_dirs("mllama")
    for f in src.iterdir():
        if f.name in ("config.json", "model.safetensors", "generation_config.json"):
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(FileNotFoundError, match="image processor.*tokenizer"):
        Embedder.from_pretrained(tmp_path, device="cpu")


def test_embedded_default_is_rebuilt_when_its_builder_changed(tmp_path, monkeypatch):
    import json

    from mme5.model.loading import ensure_tiny
    from mme5.model.tiny import BUILDER_VERSION

    monkeypatch.setenv("MME5_CACHE", str(tmp_path))
    path = ensure_tiny("mllama")
    stamp = path / "mme5_tiny.json"
    assert json.loads(stamp.read_text())["builder"] == BUILDER_VERSION
    built = (path / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny("mllama") == path and (path / "model.safetensors").stat().st_mtime_ns == built  # kept
    old = {**json.loads(stamp.read_text()), "builder": BUILDER_VERSION - 1}  # as an older release left it
    stamp.write_text(json.dumps(old))
    (path / "chat_template.jinja").unlink()
    ensure_tiny("mllama")
    assert json.loads(stamp.read_text())["builder"] == BUILDER_VERSION and (path / "chat_template.jinja").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-mllama"]  # nothing left aside
