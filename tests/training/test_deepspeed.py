"""DeepSpeed ZeRO-2 under torchrun (2 CPU processes, gloo) trains like one process on the whole batch."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mme5 import Embedder
from mme5.config import load_config
from mme5.training.config import TrainConfig

from .test_distributed import torchrun

ROOT = Path(__file__).resolve().parents[2]


def logged_losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


@pytest.mark.slow
@pytest.mark.integration
def test_zero2_two_ranks_match_one_process_and_resume(tiny_dirs, tmp_path, monkeypatch):
    pytest.importorskip("deepspeed")
    import torch

    from mme5.training.run import train

    monkeypatch.setenv("MME5_CACHE", str(tmp_path / "cache"))
    recipe = ROOT / "configs/train/tiny.yaml"
    common = [f"model.name_or_path={tiny_dirs('mllama')}", "model.lora.dropout=0.0", "max_steps=4",
              "logging_steps=1", "save_steps=2", "save_merged=false", "gradcache_chunk_size=2"]
    # one process, global batch 8 (GradCache: 4 chunks) ...
    train(load_config(TrainConfig, recipe, [*common, "per_device_batch_size=8", f"output_dir={tmp_path / 'one'}"]))
    # ... equals ZeRO-2 on 2 ranks x 4 (2 chunks each): same pools, gathered negatives, same updates
    ds_run = [str(Path(__file__).with_name("ds_launch.py")), "train", str(recipe), *common, "per_device_batch_size=4",
              f"deepspeed={ROOT / 'configs/deepspeed/zero2.json'}", f"output_dir={tmp_path / 'ds'}"]
    torchrun(*ds_run)
    one, ds = logged_losses(tmp_path / "one"), logged_losses(tmp_path / "ds")
    assert sorted(ds) == [1, 2, 3, 4]
    for step in ds:
        assert ds[step] == pytest.approx(one[step], abs=1e-5), step

    # DeepSpeed's own checkpoint holds the adapter, not a copy of the frozen base model
    states = torch.load(tmp_path / "ds/checkpoint-2/global_step2/mp_rank_00_model_states.pt",
                        map_location="cpu", weights_only=False)["module"]
    assert states and all("lora_" in k for k in states), sorted(states)[:5]

    # resume from step 2 (as after a crash): steps 3 and 4 are trained again, identically
    for stale in ("checkpoint-4", "lora", "train_log.jsonl"):
        path = tmp_path / "ds" / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    torchrun(*ds_run)
    resumed = logged_losses(tmp_path / "ds")
    assert sorted(resumed) == [3, 4]
    for step in (3, 4):
        assert resumed[step] == pytest.approx(one[step], abs=1e-5), step

    items = ["a red circle", "ein Kreis (rot)"]
    vecs = Embedder.from_pretrained(tiny_dirs("mllama"), adapter=tmp_path / "ds" / "lora", device="cpu").encode(items)
    ref = Embedder.from_pretrained(tiny_dirs("mllama"), adapter=tmp_path / "one" / "lora", device="cpu").encode(items)
    np.testing.assert_allclose(vecs, ref, atol=1e-5)
