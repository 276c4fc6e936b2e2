"""`mme5 embed --dim --quantize`: prefixes and quantized codes of exactly the encoded vectors;
untrained prefix lengths refused unless forced."""

from __future__ import annotations

import json
import shutil

import numpy as np

from mme5 import Embedder
from mme5.cli.main import main

TEXTS = ["a red apple", "a blue car", "two cats on a sofa"]


def run(model, out, *flags):
    return main(
        ["embed", "--model", str(model), *[a for t in TEXTS for a in ("--text", t)], "--output", str(out), *flags]
    )


def test_dim_and_quantize_match_the_float_vectors(tiny_dirs, tmp_path, capsys):
    model = tiny_dirs("mllama")
    full = Embedder.from_pretrained(model, device="cpu").encode(TEXTS)
    prefix = full[:, :16] / np.linalg.norm(full[:, :16], axis=1, keepdims=True)
    assert run(model, tmp_path / "d.npy", "--dim", "16") == 0
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), prefix, atol=1e-6)
    assert run(model, tmp_path / "b.npy", "--dim", "16", "--quantize", "binary") == 0
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), np.packbits(prefix > 0, axis=1))
    assert run(model, tmp_path / "q.npy", "--quantize", "int8") == 0
    codes = np.load(tmp_path / "q.npy")
    ranges = json.loads((tmp_path / "q.quant.json").read_text())
    assert codes.dtype == np.int8 and codes.shape == full.shape
    decoded = np.asarray(ranges["low"]) + np.asarray(ranges["step"]) * (codes.astype(np.float64) + 128)
    assert np.abs(decoded - full).max() <= max(ranges["step"]) / 2 + 1e-6


def test_untrained_dims_are_refused_unless_forced(tiny_dirs, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_dirs("mllama"), model)
    (model / "train_config.yaml").write_text("matryoshka_dims: [8, 16, full]\n")
    assert run(model, tmp_path / "ok.npy", "--dim", "8") == 0
    assert run(model, tmp_path / "no.npy", "--dim", "12") == 2
    err = capsys.readouterr().err
    assert "--dim 12 is not a trained prefix length" in err and "trained for 8, 16," in err and "--force-dim" in err
    assert not (tmp_path / "no.npy").exists()
    assert run(model, tmp_path / "forced.npy", "--dim", "12", "--force-dim") == 0
    assert np.load(tmp_path / "forced.npy").shape == (3, 12)
    assert run(model, tmp_path / "big.npy", "--dim", "100000", "--force-dim") == 2
    assert "exceeds the model's" in capsys.readouterr().err
