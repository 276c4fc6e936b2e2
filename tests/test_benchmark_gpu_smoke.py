"""`benchmarks/gpu_fullsize.py --smoke`: the GPU benchmark's code paths on CPU with a tiny config."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.slow
def test_gpu_fullsize_smoke_records_all_parts(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "OUT": str(tmp_path / "device_out"), "MME5_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_fullsize.py"), "--smoke", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert json.loads((tmp_path / "device_out" / "gpu.json").read_text()) == data  # the $OUT copy
    assert data["smoke"] and "Model FLOPs" in data["flops_formula"]
    parts = data["parts"]
    for name in ("peak", "model", "encode_text", "encode_image", "train", "qwen3emb"):
        assert parts[name]["ok"], parts[name].get("error")
        assert positive(parts[name]["elapsed_s"])
    q3 = parts["qwen3emb"]  # the tiny qwen3_vl under the qwen3-vl-embedding profile
    assert q3["profile"] == "qwen3-vl-embedding"
    for name in ("images", "videos", "pages"):
        assert positive(q3[name]["encode"]["items_per_s"]) and positive(q3[name]["forward"]["mfu"])

    peak = parts["peak"]["tflops"]
    assert positive(peak) and len(parts["peak"]["times_s"]) >= 5
    for name in ("encode_text", "encode_image"):
        r = parts[name]
        assert r["peak_tflops"] == peak and positive(r["flops"]) and positive(r["tokens"])
        for mode in ("encode", "forward"):
            m = r[mode]
            for key in ("median_s", "items_per_s", "tokens_per_s", "achieved_tflops", "mfu"):
                assert positive(m[key]), (name, mode, key, m[key])
            assert len(m["times_s"]) >= 5
            # MFU = model FLOPs / median time / measured peak
            assert m["mfu"] == pytest.approx(r["flops"] / m["median_s"] / (peak * 1e12), rel=1e-9)
            assert m["items_per_s"] == pytest.approx(r["items"] / m["median_s"])
        # torch's FLOP counter on the same forward agrees with the formula (it also counts padding)
        assert 1.0 <= r["flops_counter_ratio"] < 1.3, r["flops_counter_ratio"]
    assert parts["encode_text"]["tiles"] == 0
    assert parts["encode_image"]["tiles"] == 4 * parts["encode_image"]["items"]  # 2 x 2 tiles per image

    train = parts["train"]
    assert train["global_batch"] == 8 and train["chunks"] == 2 and positive(train["trainable_params"])
    assert positive(train["median_step_s"]) and positive(train["peak_memory_gb"]) and len(train["times_s"]) >= 5


def test_qwen3emb_part_skips_with_one_line_without_weights(tmp_path, monkeypatch):
    import sys

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import qwen3_vl_embedding_part as part

    reason = part.weights_present("Qwen/Qwen3-VL-Embedding-2B")
    assert reason is not None and "\n" not in reason and "not in the local hub cache" in reason
    assert part.weights_present(str(tmp_path)) == f"{tmp_path} has no config.json"
