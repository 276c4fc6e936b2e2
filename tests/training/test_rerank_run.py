"""`task: rerank` as a first-class run: two CPU processes (torchrun, gloo; DDP and DeepSpeed ZeRO-2)
take their own rows and update exactly like one process accumulating the same micro-batches; an
interrupted run resumed from its checkpoint ends with the uninterrupted run's weights and logs each
step once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from mme5.config import load_config
from mme5.training.config import TrainConfig
from mme5.types import Item

from .test_distributed import torchrun

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["apple", "river", "candle", "tiger", "violin", "planet", "pepper", "castle"]
PAIRS = [("find apple", "apple here"), ("find apple", "tiger here"), ("find castle", "castle here")]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from mme5.model.tiny import build_tiny

    return build_tiny("qwen3_vl", tmp_path_factory.mktemp("tiny") / "reranker", reranker=True)


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> Path:
    """Eight rows, each with one hard negative (the next row's positive)."""
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    lines = [
        {"qry": f"find {w}", "qry_image_path": "", "pos_text": f"{w} here", "pos_image_path": "",
         "neg_text": json.dumps([f"{WORDS[(i + 1) % 8]} here"]), "neg_image_path": json.dumps([""])}
        for i, w in enumerate(WORDS)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def settings(base: Path, rows: Path, out: Path, **extra) -> list[str]:
    values = {"task": "rerank", "model.name_or_path": base, "output_dir": out, "data.sources": f"[{{path: {rows}}}]",
              "model.gradient_checkpointing": False, "model.lora.dropout": 0.0, "per_device_batch_size": 2, "max_steps": 2,
              "learning_rate": 1e-3, "warmup_ratio": 0.0, "rerank.negatives": 2, "rerank.max_length": 512,
              "logging_steps": 1, "save_steps": 100, "seed": 3}
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


def logged(out: Path) -> list[dict]:
    return [x for x in map(json.loads, (out / "train_log.jsonl").read_text().splitlines()) if "loss" in x]


def scores(folder: Path) -> list[float]:
    from mme5 import Reranker

    return Reranker.from_pretrained(folder, device="cpu").score_pairs([(Item(text=q), Item(text=d)) for q, d in PAIRS])


def assert_same_adapter(a: Path, b: Path, atol: float) -> None:
    x, y = load_file(a / "lora" / "adapter_model.safetensors"), load_file(b / "lora" / "adapter_model.safetensors")
    assert x.keys() == y.keys() and len(x) > 0
    for k in x:
        torch.testing.assert_close(y[k], x[k], atol=atol, rtol=0, msg=k)


@pytest.fixture(scope="module")
def one_process(base, rows, tmp_path_factory) -> Path:
    """The reference: one process, 2 micro-batches of 2 rows accumulated per step."""
    from mme5.training.run import train

    out = tmp_path_factory.mktemp("one") / "run"
    train(load_config(TrainConfig, None, settings(base, rows, out, gradient_accumulation_steps=2)))
    return out


def assert_like_one_process(one: Path, two: Path) -> None:
    a, b = logged(one), logged(two)
    assert [x["step"] for x in a] == [x["step"] for x in b] == [1, 2]
    for x, y in zip(a, b):
        assert y["loss"] == pytest.approx(x["loss"], abs=1e-5)
        assert y["grad_norm"] == pytest.approx(x["grad_norm"], rel=1e-4)  # Adam would hide a wrong scale
    assert json.loads((two / "train_summary.json").read_text())["world_size"] == 2
    assert_same_adapter(one, two, atol=1e-5)
    moved = scores(two)
    assert moved == pytest.approx(scores(one), abs=1e-5)


@pytest.mark.slow
@pytest.mark.integration
def test_two_ranks_equal_one_process_accumulating(base, rows, one_process, tmp_path):
    """DDP, 2 ranks x 2 rows = one process x 2 micro-batches of 2 (the plan serves the same rows):
    same logged loss and gradient norm at every step, same adapter, and the folder scores."""
    two = tmp_path / "two"
    torchrun(str(Path(__file__).with_name("train_launch.py")), *settings(base, rows, two))
    assert_like_one_process(one_process, two)
    assert max(abs(m - s) for m, s in zip(scores(two), scores(base))) > 1e-4  # trained, not the base


@pytest.mark.slow
@pytest.mark.integration
def test_zero2_two_ranks_equal_one_process_accumulating(base, rows, one_process, tmp_path):
    pytest.importorskip("deepspeed")
    two, recipe = tmp_path / "zero2", tmp_path / "rerank.yaml"
    recipe.write_text("task: rerank\n")
    overrides = [*settings(base, rows, two), f"deepspeed={ROOT / 'configs/deepspeed/zero2.json'}"]
    torchrun(str(Path(__file__).with_name("ds_launch.py")), "train", str(recipe),
             *(arg for o in overrides for arg in ("--set", o)))
    assert_like_one_process(one_process, two)


class StopAt(TrainerCallback):
    """Interrupts the run once `step` is logged (after the checkpoint before it was saved)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step == self.step and logs and "loss" in logs:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_resumed_run_ends_like_an_uninterrupted_one(base, rows, tmp_path):
    """LoRA dropout on: the resumed steps must replay the checkpoint's RNG as well as its weights,
    optimizer, scheduler and place in the batch plan."""
    from mme5.training.run import train

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = {"per_device_batch_size": 4, "max_steps": 4, "save_steps": 2, "model.lora.dropout": 0.1}
    train(load_config(TrainConfig, None, settings(base, rows, straight, **common)))
    with pytest.raises(KeyboardInterrupt):
        train(load_config(TrainConfig, None, settings(base, rows, resumed, **common)), callbacks=[StopAt(3)])
    assert (resumed / "checkpoint-2").is_dir() and not (resumed / "lora").exists()
    assert [x["step"] for x in logged(resumed)] == [1, 2, 3]
    train(load_config(TrainConfig, None, settings(base, rows, resumed, **common)))  # resume=auto: checkpoint-2
    a, b = logged(straight), logged(resumed)
    assert [x["step"] for x in b] == [x["step"] for x in a] == [1, 2, 3, 4]  # step 3 once
    for x, y in zip(a, b):
        assert y["loss"] == pytest.approx(x["loss"], abs=1e-6), x["step"]
    assert_same_adapter(straight, resumed, atol=1e-6)
    assert scores(resumed) == pytest.approx(scores(straight), abs=1e-6)
    assert json.loads((resumed / "train_summary.json").read_text())["steps"] == 4


@pytest.mark.slow
def test_full_finetune_checkpoints_are_rerankers_and_resume(base, rows, tmp_path):
    """`finetune: full`: each checkpoint is a declared reranker folder; resuming reloads its weights."""
    import shutil

    from mme5.training.run import train

    args = settings(base, rows, tmp_path, **{"model.finetune": "full", "save_steps": 1})
    train(load_config(TrainConfig, None, args))
    final, first = load_file(tmp_path / "model.safetensors"), logged(tmp_path)[0]
    assert scores(tmp_path / "checkpoint-1") != pytest.approx(scores(base), abs=1e-4)
    shutil.rmtree(tmp_path / "checkpoint-2")
    (tmp_path / "model.safetensors").unlink()
    train(load_config(TrainConfig, None, args))  # resumes from checkpoint-1
    again = load_file(tmp_path / "model.safetensors")
    assert final.keys() == again.keys()
    for k in final:
        torch.testing.assert_close(again[k], final[k], atol=1e-6, rtol=0, msg=k)
    assert [x["step"] for x in logged(tmp_path)] == [1, 2] and logged(tmp_path)[0] == first  # step 1 not rerun
