"""`mme5 quickstart --fast`: the run folder is complete and its numbers are recomputable from the
saved checkpoint; resume is exact; other backbones and a given checkpoint (LoRA) work."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mme5.model.backbones.base import TinySizes
import pytest
import yaml
from PIL import Image

from mme5.cli.main import main
from mme5.data.emoji import load_pack


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "run"
    # an unreachable factor makes --check fail: the exit code follows the computed criterion
    rc = main(["quickstart", "--fast", "--check", "--set", "check.factor=1000", "--out", str(out)])
    return out, rc


def test_run_folder_is_complete(fast_run, capsys):
    out, rc = fast_run
    assert rc == 1  # --check with an impossible factor
    for name in ("config.yaml", "splits.json", "untrained.json", "metrics.json", "checkpoint/config.json",
                 "checkpoint/tokenizer.json", "checkpoint/mme5_provenance.json"):
        assert (out / name).is_file(), name
    assert not (out / "state").exists()  # the resumable snapshot is removed once training completes
    with Image.open(out / "chart.png") as chart:
        assert chart.width > 500 and chart.height > 200
    metrics = json.loads((out / "metrics.json").read_text())
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert metrics["config"] == config and config["train"]["steps"] == 6
    assert "torch" in metrics["versions"] and len(metrics["training"]["losses"]) == 6
    assert all(np.isfinite(metrics["training"]["losses"]))
    check = metrics["check"]
    assert check["passed"] is False and check["a_heldout_pairs"]["languages_passed"] == []


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
    held = json.loads((out / "splits.json").read_text())
    data = load_pack()
    by_id = {r.id: r for r in data.records}
    cfg = metrics["config"]["data"]
    embedder = Embedder.from_pretrained(out / "checkpoint", device="cpu")
    gallery_ids = held["heldout_images"]
    g = embedder.encode([Item(image=by_id[i].image, instruction=cfg["image_instruction"]) for i in gallery_ids], batch_size=256)
    for lang in cfg["eval_languages"]:
        ids = [i for i in gallery_ids if lang in by_id[i].names]
        q = embedder.encode([Item(text=by_id[i].names[lang], instruction=cfg["query_instruction"]) for i in ids], batch_size=256)
        reported = metrics["trained"]["b_heldout_images"][lang]
        assert reported["queries"] == len(ids) and reported["gallery"] == len(gallery_ids)
        assert reported["chance_R@10"] == pytest.approx(10 / len(gallery_ids))
        for k in (1, 10):
            expected = _recall_brute_force(q, g, [gallery_ids.index(i) for i in ids], k)
            assert reported[f"R@{k}"] == pytest.approx(expected, abs=1.01 / len(ids))
    # the untrained model differs from the trained one: both were measured, not copied
    assert metrics["untrained"] != metrics["trained"]


def test_printed_table_and_refusals(fast_run, capsys):
    out, _ = fast_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert main(["quickstart", "--fast", "--out", str(out)]) == 2  # not empty and no --resume
    assert "not empty" in capsys.readouterr().err
    assert main(["quickstart", "--fast", "--resume", "--set", "train.lr=0.5", "--out", str(out)]) == 2
    assert "train.lr" in capsys.readouterr().err
    # resuming a finished run only reports it again (same numbers, same exit code)
    before = (out / "metrics.json").read_bytes()
    assert main(["quickstart", "--fast", "--check", "--resume", "--set", "check.factor=1000", "--out", str(out)]) == 1
    assert (out / "metrics.json").read_bytes() == before
    en_line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("en "))
    (out.parent / "other").mkdir()
    (out.parent / "other" / "notes.txt").write_text("mine")
    assert main(["quickstart", "--fast", "--resume", "--out", str(out.parent / "other")]) == 2
    assert "not a quickstart run folder" in capsys.readouterr().err
    from mme5.quickstart.evaluate import learning_check
    from mme5.quickstart.report import format_table

    check = learning_check(metrics["trained"], metrics["untrained"], 1000, 1)
    table = format_table(metrics["trained"], metrics["untrained"], check)
    en = metrics["trained"]["a_heldout_pairs"]["en"]
    line = next(x for x in table.splitlines() if x.startswith("en "))
    assert f"{100 * en['R@10']:.1f}" in line and "FAILED" in table and line == en_line


def test_resume_continues_exactly(tmp_path, monkeypatch):
    import torch

    from mme5.quickstart import train as train_mod
    from mme5.quickstart.config import DataConfig, ModelConfig, TrainConfig
    from mme5.quickstart.evaluate import Instructions
    from mme5.quickstart.splits import make_splits

    data = load_pack()
    splits = make_splits(data, DataConfig(max_images=120, heldout_pairs_per_language=20, eval_languages=("en", "de")))
    model_cfg = ModelConfig(sizes=TinySizes(vocab_size=400, text_hidden=32, intermediate=64))
    cfg = TrainConfig(steps=4, batch_size=16, save_every=2, warmup_steps=1)
    ins = Instructions("Find:", None)

    def fresh():
        return train_mod.build_embedder(model_cfg, splits.train_texts, tmp_path / "m")

    straight = fresh()
    train_mod.train(straight, data, splits, cfg, ins, ("en", "de"))
    real = train_mod.batch_pairs

    def interrupted(s, c, langs, step):
        if step == 3:
            raise KeyboardInterrupt
        return real(s, c, langs, step)

    monkeypatch.setattr(train_mod, "batch_pairs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train(fresh(), data, splits, cfg, ins, ("en", "de"), tmp_path / "state")
    monkeypatch.setattr(train_mod, "batch_pairs", real)
    resumed = fresh()
    log = train_mod.train(resumed, data, splits, cfg, ins, ("en", "de"), tmp_path / "state")
    assert log.resumed_at == 2 and len(log.losses) == 4
    for (name, a), (_, b) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.slow
def test_qwen2_vl_backbone_and_given_checkpoint_with_lora(tmp_path, tiny_dirs):
    assert main(["quickstart", "--fast", "--backbone", "qwen2_vl", "--out", str(tmp_path / "qwen")]) == 0
    assert json.loads((tmp_path / "qwen/checkpoint/config.json").read_text())["model_type"] == "qwen2_vl"
    from safetensors.numpy import load_file

    base = tiny_dirs("mllama")
    assert main(["quickstart", "--fast", "--model", str(base), "--out", str(tmp_path / "lora")]) == 0
    merged = load_file(tmp_path / "lora/checkpoint/model.safetensors")
    original = load_file(Path(base) / "model.safetensors")
    assert not any("lora" in k for k in merged) and set(merged) == set(original)
    changed = [k for k in original if not np.array_equal(original[k], merged[k])]
    assert changed and all(k.endswith("proj.weight") for k in changed)  # only LoRA targets moved


def test_image_bank_slices_equal_fresh_preparation(tiny_embedder):
    import torch

    from mme5.quickstart.train import ImageBank
    from mme5.types import Item

    emb = tiny_embedder("mllama")
    data = load_pack()
    items = {i: Item(image=data.records[i].image, instruction="Represent the given image.") for i in range(0, 60, 2)}
    bank = ImageBank(emb, items, chunk=7)  # several chunks, stacked
    capped = ImageBank(emb, items, max_bytes=0)  # falls back to preparing every batch
    assert bank.tensors is not None and capped.tensors is None
    batch = [40, 2, 18, 2 + 56]
    with torch.no_grad():
        fresh = emb.forward(emb.prepare([items[i] for i in batch]))
        assert torch.equal(emb.forward(bank.prepare(batch)), fresh)
        assert torch.equal(emb.forward(capped.prepare(batch)), fresh)
