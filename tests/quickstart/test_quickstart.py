"""`mme5 quickstart --fast`: the run folder is complete, its training data is training-schema data,
its numbers are recomputable from the saved checkpoint and `mme5 eval` reproduces them exactly;
resume through the training stage is exact; other backbones and a given checkpoint (LoRA) work."""
from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mme5.cli.main import main
from mme5.cli.quickstart import FAST
from mme5.data.emoji import load_pack


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "run"
    # an unreachable factor makes --check fail: the exit code follows the computed criterion
    rc = main(["quickstart", "--fast", "--check", "--set", "check.factor=1000", "--out", str(out)])
    return out, rc


def test_run_folder_is_complete(fast_run):
    out, rc = fast_run
    assert rc == 1  # --check with an impossible factor
    for name in ("config.yaml", "splits.json", "data/train.jsonl", "initial_model/config.json", "metrics.json",
                 "checkpoint/config.json", "checkpoint/tokenizer.json", "checkpoint/train_config.yaml",
                 "checkpoint/train_log.jsonl", "eval/untrained/tasks/emoji-a-en.json",
                 "eval/trained/tasks/emoji-b-ja.json"):
        assert (out / name).is_file(), name
    with Image.open(out / "chart.png") as chart:
        assert chart.width > 500 and chart.height > 200
    metrics = json.loads((out / "metrics.json").read_text())
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert metrics["config"] == config and config["train"]["max_steps"] == 6
    # the training stage ran with the recipe + the run's paths, and wrote its own resolved config
    trained_with = yaml.safe_load((out / "checkpoint/train_config.yaml").read_text())
    assert trained_with["symmetric_loss"] is True and trained_with["lr_scheduler"] == "cosine"
    assert trained_with["model"]["finetune"] == "full" and trained_with["output_dir"] == str(out / "checkpoint")
    assert "torch" in metrics["versions"] and len(metrics["training"]["losses"]) == 6
    assert all(np.isfinite(metrics["training"]["losses"]))
    check = metrics["check"]
    assert check["passed"] is False and check["a_heldout_pairs"]["languages_passed"] == []


def test_training_rows_are_training_schema_without_heldout_pairs(fast_run):
    from mme5.data.sources import read_examples
    from mme5.prompts import FIND_IMAGE_FOR_CAPTION

    out, _ = fast_run
    metrics = json.loads((out / "metrics.json").read_text())
    examples, _ = read_examples(out / "data/train.jsonl", negative_ratio=0)  # the trainer's own reader
    assert len(examples) == metrics["training"]["train_pairs"]
    held = json.loads((out / "splits.json").read_text())["splits"]
    records = load_pack().records[:240]  # --fast: the first 240 images
    heldout_images = set(held["b_heldout_images"]["gallery"])
    heldout_pairs = {(i, lang) for lang, ids in held["a_heldout_pairs"]["queries"].items() for i in ids}
    train_languages = metrics["config"]["split"]["train_languages"]
    expected = Counter((r.id, r.names[lang]) for r in records if r.id not in heldout_images
                       for lang in train_languages if lang in r.names and (r.id, lang) not in heldout_pairs)
    rows = Counter()
    for e in examples:
        assert e.query.text.startswith(FIND_IMAGE_FOR_CAPTION + " ") and e.query.text.endswith("\n")
        rows[(Path(str(e.positive.image)).stem, e.query.text[len(FIND_IMAGE_FOR_CAPTION) + 1:-1])] += 1
    assert rows == expected and len(heldout_pairs) == 3 * 40


def _recall_brute_force(q: np.ndarray, g: np.ndarray, positives: list[int], k: int) -> float:
    hits = 0
    for row, pos in zip(q @ g.T, positives):
        better_or_equal = sum(1 for j, s in enumerate(row) if j != pos and s >= row[pos])
        hits += better_or_equal < k
    return hits / len(positives)


def test_reported_numbers_are_recomputed_from_the_checkpoint(fast_run):
    from mme5 import Embedder
    from mme5.types import Item

    out, _ = fast_run
    metrics = json.loads((out / "metrics.json").read_text())
    split = json.loads((out / "splits.json").read_text())["splits"]["b_heldout_images"]
    by_id = {r.id: r for r in load_pack().records}
    cfg = metrics["config"]["split"]
    embedder = Embedder.from_pretrained(out / "checkpoint", device="cpu")
    gallery_ids = split["gallery"]
    g = embedder.encode([Item(image=by_id[i].image, instruction=cfg["image_instruction"]) for i in gallery_ids])
    for lang in cfg["eval_languages"]:
        ids = [i for i in gallery_ids if lang in by_id[i].names]
        assert ids == split["queries"][lang]
        q = embedder.encode([Item(text=by_id[i].names[lang], instruction=cfg["query_instruction"]) for i in ids])
        reported = metrics["trained"]["b_heldout_images"][lang]
        assert reported["queries"] == len(ids) and reported["gallery"] == len(gallery_ids)
        assert reported["chance_R@10"] == pytest.approx(10 / len(gallery_ids))
        positives = [gallery_ids.index(i) for i in ids]
        for k in (1, 10):
            expected = _recall_brute_force(q, g, positives, k)
            assert reported[f"R@{k}"] == pytest.approx(expected, abs=1.01 / len(ids))
        # the compact views: a 16-dim prefix, and sign bits (ties count against the positive)
        prefix = [v[:, :16] / np.linalg.norm(v[:, :16], axis=1, keepdims=True) for v in (q, g)]
        assert reported["views"]["16-float"] == pytest.approx(_recall_brute_force(*prefix, positives, 10), abs=1.01 / len(ids))
        signs = [np.where(v > 0, 1.0, -1.0) for v in (q, g)]
        assert reported["views"]["full-binary"] == pytest.approx(_recall_brute_force(*signs, positives, 10), abs=1e-9)
    # the untrained model differs from the trained one: both were measured, not copied
    assert metrics["untrained"] != metrics["trained"]


def test_mme5_eval_reproduces_the_quickstart_numbers(fast_run, tmp_path, capsys):
    out, _ = fast_run
    metrics = json.loads((out / "metrics.json").read_text())
    commands = metrics["commands"]
    assert commands[0].startswith("mme5 train configs/train/quickstart-emoji.yaml ")
    assert commands[1].startswith("mme5 eval tasks emoji-a-en emoji-a-de emoji-a-ja emoji-b-en")
    # the printed train command describes exactly the config the training stage ran with
    from mme5.cli.main import build_parser
    from mme5.cli.options import config_from_args
    from mme5.config import to_dict
    from mme5.training.config import TrainConfig

    train_args = build_parser().parse_args(shlex.split(commands[0])[1:])
    assert to_dict(config_from_args(TrainConfig, train_args)) == yaml.safe_load(
        (out / "checkpoint/train_config.yaml").read_text())
    # the printed eval command, run as a user would (another output folder, an empty embedding cache)
    argv = shlex.split(commands[1])[1:]
    argv[argv.index("--output") + 1] = str(tmp_path / "eval")
    assert main([*argv, "--cache-dir", str(tmp_path / "cache"), "--batch-size", "64"]) == 0
    capsys.readouterr()
    for split, letter in (("a_heldout_pairs", "a"), ("b_heldout_images", "b")):
        for lang, reported in metrics["trained"][split].items():
            task = json.loads((tmp_path / "eval/tasks" / f"emoji-{letter}-{lang}.json").read_text())
            tie_aware = task["protocols"]["row"]["tie_aware"]
            assert task["rows"] == reported["queries"]
            assert tie_aware["recall@1"] / 100 == reported["R@1"] and tie_aware["recall@10"] / 100 == reported["R@10"]


def test_printed_table_and_refusals(fast_run, capsys):
    out, _ = fast_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert main(["quickstart", "--fast", "--out", str(out)]) == 2  # not empty and no --resume
    assert "not empty" in capsys.readouterr().err
    assert main(["quickstart", "--fast", "--resume", "--set", "train.learning_rate=0.5", "--out", str(out)]) == 2
    assert "train.learning_rate" in capsys.readouterr().err
    # resuming a finished run only reports it again (same numbers, same exit code)
    before = (out / "metrics.json").read_bytes()
    assert main(["quickstart", "--fast", "--check", "--resume", "--set", "check.factor=1000", "--out", str(out)]) == 1
    assert (out / "metrics.json").read_bytes() == before
    printed = capsys.readouterr().out
    en_line = next(x for x in printed.splitlines() if x.startswith("en "))
    assert "mme5 eval tasks" in printed
    (out.parent / "other").mkdir()
    (out.parent / "other" / "notes.txt").write_text("mine")
    assert main(["quickstart", "--fast", "--resume", "--out", str(out.parent / "other")]) == 2
    assert "not a quickstart run folder" in capsys.readouterr().err
    from mme5.quickstart.report import format_table, learning_check

    check = learning_check(metrics["trained"], metrics["untrained"], 1000, 1)
    table = format_table(metrics["trained"], metrics["untrained"], check)
    en = metrics["trained"]["a_heldout_pairs"]["en"]
    line = next(x for x in table.splitlines() if x.startswith("en "))
    assert f"{100 * en['R@10']:.1f}" in line and "FAILED" in table and line == en_line
    assert "compact vectors: mean R@10" in table and "bin+rescore" in table


def test_resume_continues_exactly(fast_run, tmp_path):
    """Interrupted after the step-3 checkpoint, then `--resume`: the same weights as the straight run."""
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from mme5.config import load_config
    from mme5.quickstart.config import QuickstartConfig
    from mme5.quickstart.pipeline import run_quickstart

    class StopAtFour(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 4:
                raise KeyboardInterrupt

    straight, _ = fast_run
    cfg = load_config(QuickstartConfig, None, [*FAST, "check.factor=1000"])  # the fast run's config
    out = tmp_path / "run"
    torch.set_num_threads(1)  # as the command does
    with pytest.raises(KeyboardInterrupt):
        run_quickstart(cfg, out, callbacks=[StopAtFour()])
    assert not (out / "metrics.json").exists() and (out / "checkpoint/checkpoint-3").is_dir()
    assert main(["quickstart", "--fast", "--resume", "--set", "check.factor=1000", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["resumed_at"] == 3
    a, b = load_file(straight / "checkpoint/model.safetensors"), load_file(out / "checkpoint/model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    assert metrics["trained"] == json.loads((straight / "metrics.json").read_text())["trained"]


@pytest.mark.slow
def test_qwen2_vl_backbone_and_given_checkpoint_with_lora(tmp_path, tiny_dirs):
    assert main(["quickstart", "--fast", "--backbone", "qwen2_vl", "--out", str(tmp_path / "qwen")]) == 0
    assert json.loads((tmp_path / "qwen/checkpoint/config.json").read_text())["model_type"] == "qwen2_vl"
    from safetensors.numpy import load_file

    base = tiny_dirs("mllama")
    assert main(["quickstart", "--fast", "--model", str(base), "--out", str(tmp_path / "lora")]) == 0
    assert (tmp_path / "lora/checkpoint/lora/adapter_config.json").is_file()  # the training stage's LoRA output
    merged = load_file(tmp_path / "lora/checkpoint/model.safetensors")
    original = load_file(Path(base) / "model.safetensors")
    assert not any("lora" in k for k in merged) and set(merged) == set(original)
    changed = [k for k in original if not np.array_equal(original[k], merged[k])]
    assert changed and all(k.endswith("proj.weight") for k in changed)  # only LoRA targets moved
