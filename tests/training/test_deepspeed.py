"""DeepSpeed ZeRO-2 and ZeRO-3 under torchrun (2 CPU processes, gloo) train like one process on
the whole batch, and resume from a checkpoint to the same losses."""
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
ITEMS = ["a red circle", "ein Kreis (rot)"]


def logged_losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def common(tiny_dirs) -> list[str]:
    return [f"model.name_or_path={tiny_dirs('mllama')}", "model.lora.dropout=0.0", "max_steps=4",
            "logging_steps=1", "save_steps=2", "save_merged=false", "gradcache_chunk_size=2"]


@pytest.fixture(scope="module")
def one_process(tiny_dirs, tmp_path_factory):
    """One process, global batch 8 (GradCache: 4 chunks), 4 steps: the reference."""
    pytest.importorskip("deepspeed")
    from mme5.training.run import train

    out = tmp_path_factory.mktemp("one")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MME5_CACHE", str(out / "cache"))
        train(load_config(TrainConfig, ROOT / "configs/train/tiny.yaml",
                          [*common(tiny_dirs), "per_device_batch_size=8", f"output_dir={out / 'run'}"]))
    return out / "run"


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("stage", [2, 3])
def test_zero_two_ranks_match_one_process_and_resume(stage, one_process, tiny_dirs, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("MME5_CACHE", str(tmp_path / "cache"))
    # 2 ranks x 4 (2 chunks each): same pools, gathered negatives, same updates. ZeRO-3 also
    # partitions the weights: every rank must run the same modules (lockstep batches).
    out = tmp_path / "ds"
    overrides = [*common(tiny_dirs), "per_device_batch_size=4",
                 f"deepspeed={ROOT / f'configs/deepspeed/zero{stage}.json'}", f"output_dir={out}"]
    run = [str(Path(__file__).with_name("ds_launch.py")), "train", str(ROOT / "configs/train/tiny.yaml"),
           *(arg for o in overrides for arg in ("--set", o))]
    torchrun(*run)
    one, ds = logged_losses(one_process), logged_losses(out)
    assert sorted(ds) == [1, 2, 3, 4]
    for step in ds:
        assert ds[step] == pytest.approx(one[step], abs=1e-5), step

    # DeepSpeed's own checkpoint holds the adapter, not a copy of the frozen base model
    states = sorted((out / "checkpoint-2" / "global_step2").glob("*model_states.pt"))
    assert len(states) == (1 if stage == 2 else 2)
    module = torch.load(states[0], map_location="cpu", weights_only=False)["module"]
    assert module and all("lora_" in k for k in module), sorted(module)[:5]

    # resume from step 2 (as after a crash): steps 3 and 4 are trained again, identically
    for stale in ("checkpoint-4", "lora", "train_log.jsonl"):
        path = out / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    torchrun(*run)
    resumed = logged_losses(out)
    assert sorted(resumed) == [3, 4]
    for step in (3, 4):
        assert resumed[step] == pytest.approx(one[step], abs=1e-5), step

    vecs = Embedder.from_pretrained(tiny_dirs("mllama"), adapter=out / "lora", device="cpu").encode(ITEMS)
    ref = Embedder.from_pretrained(tiny_dirs("mllama"), adapter=one_process / "lora", device="cpu").encode(ITEMS)
    np.testing.assert_allclose(vecs, ref, atol=1e-5)
