"""`mme5 train` with `task: rerank`: the losses against hand-written references, the candidate
lists, an end-to-end run that learns its rows and loads as a Reranker, and the recipe's dry run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mme5.cli.main import main
from mme5.types import ContrastiveExample, Item


def test_losses_equal_hand_computed_references() -> None:
    from mme5.training.rerank import rerank_loss

    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.3, 9.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    listwise = -(2.0 - math.log(sum(math.exp(x) for x in (2.0, 0.5, -1.0))))
    listwise += -(0.1 - math.log(math.exp(0.1) + math.exp(0.3)))
    assert rerank_loss(logits, mask, "listwise").item() == pytest.approx(listwise, rel=1e-12)

    def bce(x: float, y: float) -> float:
        p = 1 / (1 + math.exp(-x))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    pointwise = (bce(2.0, 1) + bce(0.5, 0) + bce(-1.0, 0)) / 3 + (bce(0.1, 1) + bce(0.3, 0)) / 2
    assert rerank_loss(logits, mask, "pointwise").item() == pytest.approx(pointwise, rel=1e-12)


def test_candidates_take_hard_negatives_then_other_positives() -> None:
    from mme5.training.rerank import candidates

    a = ContrastiveExample(Item(text="qa"), Item(text="pa"), (Item(text="na"),))
    b = ContrastiveExample(Item(text="qb"), Item(text="pb"))
    c = ContrastiveExample(Item(text="qc"), Item(text="pa"))  # same positive as a: never its negative
    lists = candidates([a, b, c], 2)
    assert [[d.text for d in row] for row in lists] == [["pa", "na", "pb"], ["pb", "pa", "pa"], ["pa", "pb"]]


def _rows(n: int) -> list[dict]:
    words = ["apple", "river", "candle", "tiger", "violin", "planet", "pepper", "castle"]
    return [
        {
            "qry": f"find {words[i]}",
            "qry_image_path": "",
            "pos_text": f"{words[i]} here",
            "pos_image_path": "",
            "neg_text": json.dumps([f"{words[(i + 1) % n]} here"]),
            "neg_image_path": json.dumps([""]),
        }
        for i in range(n)
    ]


def test_train_reranker_learns_its_rows_and_loads(tmp_path) -> None:
    from mme5 import Reranker

    base = tmp_path / "base"
    assert main(["init-tiny", "--reranker", str(base)]) == 0
    rows = _rows(8)
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    sets = [
        "task=rerank",
        f"model.name_or_path={base}",
        f"output_dir={out}",
        "model.finetune=full",
        "model.gradient_checkpointing=false",
        f"data.sources=[{{path: {tmp_path / 'train.jsonl'}}}]",
        "per_device_batch_size=2",
        "gradient_accumulation_steps=2",
        "gradcache_chunk_size=null",
        "max_steps=24",
        "learning_rate=3e-3",
        "warmup_ratio=0.0",
        "rerank.negatives=2",
        "logging_steps=4",
    ]
    assert main(["train", "configs/train/tiny.yaml", *[a for s in sets for a in ("--set", s)]]) == 0

    def margin(reranker) -> float:  # mean P(yes) of positives minus mean P(yes) of the other rows' positives
        pos, neg = [], []
        for i, r in enumerate(rows):
            scores = reranker.score(r["qry"], [r["pos_text"], rows[(i + 3) % 8]["pos_text"]])
            pos.append(scores[0])
            neg.append(scores[1])
        return float(np.mean(pos) - np.mean(neg))

    trained = Reranker.from_pretrained(out)
    assert trained.format == "qwen3-vl-reranker"
    assert margin(trained) > margin(Reranker.from_pretrained(base)) + 0.05
    log = [x for x in map(json.loads, (out / "train_log.jsonl").read_text().splitlines()) if "loss" in x]
    assert [x["step"] for x in log] == [1, 4, 8, 12, 16, 20, 24]
    assert log[-1]["loss"] < log[0]["loss"]
    assert json.loads((out / "train_summary.json").read_text())["truncated_pairs"] == 0

    # pairs cut to rerank.max_length are counted: at 8 tokens every pair is (4 steps x 2 micro-batches
    # x 2 rows x [positive + 2 negatives])
    short = tmp_path / "short"
    sets = [s for s in sets if not s.startswith(("output_dir=", "max_steps="))]
    sets += [f"output_dir={short}", "max_steps=4", "rerank.max_length=8", "save_merged=false"]
    assert main(["train", "configs/train/tiny.yaml", *[a for s in sets for a in ("--set", s)]]) == 0
    assert json.loads((short / "train_summary.json").read_text())["truncated_pairs"] == 4 * 2 * 2 * 3


def test_recipe_dry_run_and_refusals(capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["train", "configs/train/qwen3-vl-reranker-2b.yaml", "--dry-run"]) == 0
    assert "task rerank: listwise loss over the positive + 3 negatives" in capsys.readouterr().out
    recipe = ["train", "configs/train/qwen3-vl-reranker-2b.yaml", "--dry-run", "--set"]
    assert main([*recipe, "rerank.negatives=0"]) == 2
    assert "rerank.negatives" in capsys.readouterr().err
    assert main([*recipe, "model.backbone=qwen2_vl"]) == 2
    assert "defined for qwen3_vl" in capsys.readouterr().err
    assert main([*recipe, "gradcache_chunk_size=2"]) == 2
    assert "gradcache_chunk_size=null" in capsys.readouterr().err
    assert main([*recipe, "deepspeed=configs/deepspeed/zero3.json"]) == 2
    assert "cannot run under DeepSpeed ZeRO-3" in capsys.readouterr().err
    assert main([*recipe, "deepspeed=configs/deepspeed/zero2.json"]) == 0
