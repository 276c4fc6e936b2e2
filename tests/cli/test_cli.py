"""The CLI through real subprocesses."""
import json
import os
import subprocess
import sys

import numpy as np

from mme5 import Embedder, Item


def mme5(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "mme5.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_help_lists_commands():
    out = mme5("--help")
    assert out.returncode == 0
    for cmd in ("embed", "demo", "init-tiny"):
        assert cmd in out.stdout


def test_embed_jsonl_matches_python_api(tiny_dirs, tmp_path, rgb_images):
    model = tiny_dirs("mllama")
    rgb_images[0].save(tmp_path / "a.png")
    rows = [{"text": "A cat and a dog.", "instruction": "Find me an everyday image that matches the given caption:"},
            {"image": "a.png", "instruction": "Represent the given image."},
            {"text": "<|image_1|>\nRepresent the given image with the following question: what?\n", "image": "a.png"}]
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = mme5("embed", "--model", model, "--input", tmp_path / "items.jsonl", "--output", tmp_path / "v.npy")
    assert out.returncode == 0, out.stderr
    vecs = np.load(tmp_path / "v.npy")
    items = [Item(text=rows[0]["text"], instruction=rows[0]["instruction"]),
             Item(image=str(tmp_path / "a.png"), instruction="Represent the given image."),
             Item(text=rows[2]["text"], image=str(tmp_path / "a.png"))]
    expected = Embedder.from_pretrained(model, device="cpu").encode(items)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, expected, atol=1e-6)
    out = mme5("embed", "--model", model, "--input", tmp_path / "items.jsonl", "--output", tmp_path / "alone.npy",
               "--max-batch-tokens", 8)  # below every item: each runs alone, the vectors stay
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(np.load(tmp_path / "alone.npy"), expected, atol=1e-5)


def test_embed_errors_name_line_and_path(tiny_dirs, tmp_path):
    model = tiny_dirs("mllama")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n\n{"image": "missing.png"}\n')
    out = mme5("embed", "--model", model, "--input", bad, "--output", tmp_path / "v.npy")
    assert out.returncode == 2
    assert "bad.jsonl:3: image file not found" in out.stderr and "missing.png" in out.stderr
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not an image")
    bad.write_text('{"text": "ok"}\n{"text": "fine", "image": "corrupt.png"}\n')
    out = mme5("embed", "--model", model, "--input", bad, "--output", tmp_path / "v.npy")
    assert out.returncode == 2 and "bad.jsonl:2: cannot read image" in out.stderr and "corrupt.png" in out.stderr
    out = mme5("embed", "--model", model, "--text", "ok", "--text", " ", "--output", tmp_path / "v.npy")
    assert out.returncode == 2 and "--text #2 is empty" in out.stderr
    out = mme5("embed", "--model", tmp_path / "no" / "such" / "model", "--text", "ok", "--output", tmp_path / "v.npy")
    assert out.returncode == 2 and "model folder not found" in out.stderr
    bad.write_text('{"text": "ok"}\n{not json}\n')
    out = mme5("embed", "--model", model, "--input", bad, "--output", tmp_path / "v.npy")
    assert out.returncode == 2 and "bad.jsonl:2: invalid JSON" in out.stderr
    bad.write_text("")
    out = mme5("embed", "--model", model, "--input", bad, "--output", tmp_path / "v.npy")
    assert out.returncode == 2 and "empty" in out.stderr
    assert not (tmp_path / "v.npy").exists()


def test_init_tiny_and_unknown_backbone(tmp_path):
    out = mme5("init-tiny", "--backbone", "nope", tmp_path / "x")
    assert out.returncode == 2 and "Supported:" in out.stderr and "mllama" in out.stderr
    out = mme5("init-tiny", "--backbone", "idefics3", tmp_path / "idefics3")
    assert out.returncode == 0, out.stderr
    assert Embedder.from_pretrained(tmp_path / "idefics3", device="cpu").backbone.name == "idefics3"


def test_demo_runs_offline_on_embedded_default(tmp_path):
    out = mme5("demo", env_extra={"MME5_CACHE": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr
    assert "image+question -> text" in out.stdout and "text -> image" in out.stdout
    assert (tmp_path / "cache" / "tiny-mllama" / "config.json").is_file()
