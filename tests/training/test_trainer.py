"""The HF-Trainer run end to end: resume determinism after a real kill, config-change refusal,
checkpoints the Embedder loads, the CLI (tiny recipe and dry runs of every recipe)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from mme5 import Embedder, Item
from mme5.config import ConfigError, load_config
from mme5.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
KILL_AT_2 = """
import os, signal, sys
from transformers import TrainerCallback
from mme5.config import load_config
from mme5.training.config import TrainConfig
from mme5.training.run import train

class KillAfterCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no final save

train(load_config(TrainConfig, None, sys.argv[1:]), callbacks=[KillAfterCheckpoint()])
"""


@pytest.fixture(scope="module", autouse=True)
def toy_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # the toy set is generated here, not in ~/.cache
        mp.setenv("MME5_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def overrides(model_dir, out, **extra) -> list[str]:
    base = {"output_dir": out, "model.name_or_path": model_dir, "model.max_length": 48,
            "data.sources": '[{path: "toy:shapes"}]', "data.negative_ratio": 1, "per_device_batch_size": 4,
            "gradcache_chunk_size": 2, "learning_rate": 5e-4, "max_steps": 4, "save_steps": 2,
            "logging_steps": 1, "save_merged": True, "seed": 3}
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


@pytest.fixture(scope="module")
def straight_run(tiny_dirs, tmp_path_factory):
    """Four steps without interruption (dropout on: resuming must restore the RNG too)."""
    from mme5.training.run import train

    out = tmp_path_factory.mktemp("straight")
    train(load_config(TrainConfig, None, overrides(tiny_dirs("mllama"), out)))
    return out


@pytest.mark.slow
def test_resume_after_kill_is_identical(straight_run, tiny_dirs, tmp_path):
    from mme5.training.run import train

    args = overrides(tiny_dirs("mllama"), tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", KILL_AT_2, *args], capture_output=True, text=True, env=env, timeout=240)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (tmp_path / "checkpoint-2").is_dir() and not (tmp_path / "checkpoint-4").exists()
    train(load_config(TrainConfig, None, args))  # resume=auto picks up checkpoint-2
    expected, got = losses(straight_run), losses(tmp_path)
    assert sorted(got) == sorted(expected) == [1, 2, 3, 4]
    for step in (1, 2, 3, 4):
        assert got[step] == pytest.approx(expected[step], abs=1e-6), step
    a = load_file(straight_run / "lora" / "adapter_model.safetensors")
    b = load_file(tmp_path / "lora" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k].numpy(), a[k].numpy(), atol=1e-6, err_msg=k)


def test_resume_with_another_config_names_the_keys(straight_run, tiny_dirs):
    from mme5.training.run import train

    changed = overrides(tiny_dirs("mllama"), straight_run, learning_rate=1e-3, temperature=0.05, logging_steps=7)
    with pytest.raises(ConfigError, match=r"\['learning_rate', 'temperature'\].*0\.0005 -> 0\.001"):
        train(load_config(TrainConfig, None, changed))


def test_a_moved_run_folder_resumes(straight_run, tiny_dirs, tmp_path):
    """output_dir names where the run lives, not what it computes: a copied folder continues."""
    import shutil

    from mme5.training.run import train

    moved = tmp_path / "moved"
    shutil.copytree(straight_run / "checkpoint-2", moved / "checkpoint-2")
    train(load_config(TrainConfig, None, overrides(tiny_dirs("mllama"), moved, save_merged=False)))
    expected, got = losses(straight_run), losses(moved)
    assert sorted(got) == [3, 4]  # resumed from checkpoint-2, not started over
    for step in (3, 4):
        assert got[step] == pytest.approx(expected[step], abs=1e-6), step


def test_skip_replaces_corrupt_images_and_counts_them(tiny_dirs, tmp_path):
    """A corrupt image passes the default `check_images: exists`; with on_bad_image=skip the run
    goes on, replacing the example at batch time, and train_summary.json counts it."""
    from mme5.training.run import train

    rows = [dict(qry=f"query {i}", qry_image_path="", pos_text=f"document {i}", pos_image_path="", neg_text="",
                 neg_image_path="") for i in range(8)]
    for i in (1, 4, 6):  # distinct positives: the two steps of 4 cover all 8 rows
        (tmp_path / f"bad{i}.png").write_bytes(b"not a png")
        rows[i].update(pos_text="<|image_1|>\nRepresent the given image.\n", pos_image_path=f"bad{i}.png")
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    train(load_config(TrainConfig, None, overrides(
        tiny_dirs("mllama"), out, **{"data.sources": f"[{{path: {tmp_path / 't.jsonl'}}}]", "data.on_bad_image": "skip",
                                     "gradcache_chunk_size": "null", "max_steps": 2, "save_merged": False})))
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["skipped_images"] == 0 and summary["replaced_for_bad_images"] == 3, summary
    assert summary["steps"] == 2 and summary["dropped_by_batching"] == 0


def test_checkpoints_load_in_the_embedder(straight_run, tiny_dirs, rgb_images):
    items = [Item(text="a red circle", instruction="Find me an everyday image that matches the given caption:"),
             Item(image=rgb_images[0], text="<|image_1|>\nRepresent the given image.\n")]
    base = tiny_dirs("mllama")
    merged = Embedder.from_pretrained(straight_run, device="cpu").encode(items)
    adapter = Embedder.from_pretrained(base, adapter=straight_run / "lora", device="cpu").encode(items)
    step4 = Embedder.from_pretrained(base, adapter=straight_run / "checkpoint-4", device="cpu").encode(items)
    step2 = Embedder.from_pretrained(base, adapter=straight_run / "checkpoint-2", device="cpu").encode(items)
    untrained = Embedder.from_pretrained(base, device="cpu").encode(items)
    np.testing.assert_allclose(merged, adapter, atol=1e-5)
    np.testing.assert_array_equal(adapter, step4)
    assert np.abs(step2 - step4).max() > 1e-4 and np.abs(untrained - step4).max() > 1e-4
    for folder in (straight_run, straight_run / "checkpoint-2"):
        saved = load_config(TrainConfig, folder / "train_config.yaml")
        assert saved.learning_rate == 5e-4 and saved.max_steps == 4
    summary = json.loads((straight_run / "train_summary.json").read_text())
    assert summary["steps"] == 4 and summary["skipped_images"] == 0 and summary["sources"][0]["used"] == 120
    log = [json.loads(line) for line in (straight_run / "train_log.jsonl").read_text().splitlines()]
    assert {"loss", "learning_rate", "grad_norm", "examples_per_second"} <= set().union(*log)


def test_trained_folders_record_the_base_models_prompts(straight_run, tiny_dirs):
    from mme5.prompts import PROMPTS_FILE, model_prompts

    base = model_prompts(tiny_dirs("mllama"))
    assert (straight_run / PROMPTS_FILE).is_file() and (straight_run / "lora" / PROMPTS_FILE).is_file()
    assert model_prompts(straight_run) == model_prompts(straight_run / "lora") == base and base["query"]


def test_cli_tiny_recipe_runs_offline(tiny_dirs, tmp_path, capsys):
    from mme5.cli.main import main

    out = tmp_path / "run"
    code = main(["train", str(ROOT / "configs/train/tiny.yaml"), "--set", f"output_dir={out}", "--set", "max_steps=2",
                 "--set", "per_device_batch_size=8", "--set", "save_steps=2",
                 "--set", f"model.name_or_path={tiny_dirs('mllama')}"])
    assert code == 0
    assert f"trained model written to {out}" in capsys.readouterr().out
    vecs = Embedder.from_pretrained(out, device="cpu").encode(["a red circle"])
    assert vecs.shape == (1, 64) and np.isfinite(vecs).all()


@pytest.mark.parametrize(
    "recipe", ["mmE5-llama-11b.yaml", "qwen2vl-2b-gradcache.yaml", "tiny.yaml", "qwen3-vl-embedding-2b-lora.yaml"]
)
def test_recipes_pass_dry_run(recipe, capsys, monkeypatch):
    from mme5.cli.main import main

    monkeypatch.chdir(ROOT)  # recipes name their DeepSpeed file relative to the repository root
    assert main(["train", str(ROOT / "configs/train" / recipe), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run OK" in out and out.count("\ndata ") + out.startswith("data ") >= 1


def test_dry_run_rejects_bad_values(capsys):
    from mme5.cli.main import main

    assert main(["train", str(ROOT / "configs/train/tiny.yaml"), "--dry-run", "--set", "warmup_ratio=1.5"]) == 2
    assert "warmup_ratio" in capsys.readouterr().err
    assert main(["train", str(ROOT / "configs/train/tiny.yaml"), "--dry-run", "--set", "model.lora.rank=4"]) == 2
    assert "unknown key(s) ['rank']" in capsys.readouterr().err


def test_full_finetune_checkpoints_are_complete_models_and_resume(tiny_dirs, tmp_path):
    import shutil

    from mme5.training.run import train

    args = overrides(tiny_dirs("mllama"), tmp_path, **{"model.finetune": "full", "max_steps": 2, "save_steps": 1,
                                                      "warmup_ratio": 0.0})  # step 1 must move the weights
    train(load_config(TrainConfig, None, args))
    final = load_file(tmp_path / "model.safetensors")
    step1 = Embedder.from_pretrained(tmp_path / "checkpoint-1", device="cpu").encode(["a red circle"])
    base = Embedder.from_pretrained(tiny_dirs("mllama"), device="cpu").encode(["a red circle"])
    assert np.abs(step1 - base).max() > 1e-4
    shutil.rmtree(tmp_path / "checkpoint-2")
    (tmp_path / "model.safetensors").unlink()
    train(load_config(TrainConfig, None, args))  # resumes from checkpoint-1: full weights reloaded
    again = load_file(tmp_path / "model.safetensors")
    for k in final:
        np.testing.assert_allclose(again[k].numpy(), final[k].numpy(), atol=1e-6, err_msg=k)


def test_only_the_writer_rank_saves(tmp_path):
    """Under DeepSpeed/DDP every rank reaches `_save` after the collective gather; a second writer
    raced rank 0 on the same folder (CI: FileNotFoundError on rank 1). Non-writers must write nothing."""
    from types import SimpleNamespace

    from mme5.training.trainer import ContrastiveTrainer

    other_rank = SimpleNamespace(args=SimpleNamespace(should_save=False, output_dir=str(tmp_path / "out")))
    ContrastiveTrainer._save(other_rank, str(tmp_path / "ckpt"))
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "out").exists()


def test_deepspeed_config_is_checked_before_any_work(tmp_path, monkeypatch):
    """An unreadable DeepSpeed JSON stops the run at validation; ZeRO-3 gets the size-dependent
    "auto" values HF cannot fill for composite VLM configs (no top-level hidden_size)."""
    from mme5.training.run import deepspeed_config, validate

    monkeypatch.setenv("MME5_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        validate(load_config(TrainConfig, None, [f"deepspeed={broken}"]))
    cfg = load_config(TrainConfig, None, [f"deepspeed={ROOT / 'configs/deepspeed/zero3.json'}", "model.name_or_path=tiny:mllama"])
    validate(cfg)
    zero = deepspeed_config(cfg)["zero_optimization"]
    assert zero["reduce_bucket_size"] == 64 * 64 and zero["stage3_param_persistence_threshold"] == 640



def test_deepspeed_gradcache_with_accumulation_is_refused():
    """ZeRO-2 + GradCache chunks + accumulation diverged from one process at step 3 (reproduced on
    2 CPU ranks); each pair of the three matches, so only the combination is refused."""
    from mme5.training.run import validate

    zero2 = f"deepspeed={ROOT / 'configs/deepspeed/zero2.json'}"
    with pytest.raises(ConfigError, match=r"gradcache_chunk_size and gradient_accumulation_steps > 1 is refused"):
        validate(load_config(TrainConfig, None, [zero2, "gradcache_chunk_size=2", "gradient_accumulation_steps=2"]))
    for ok in (["gradient_accumulation_steps=8"], ["gradcache_chunk_size=2"]):
        validate(load_config(TrainConfig, None, [zero2, *ok]))
    validate(load_config(TrainConfig, None, ["gradcache_chunk_size=2", "gradient_accumulation_steps=2"]))
