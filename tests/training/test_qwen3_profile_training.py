"""Fine-tuning a Qwen3-VL-Embedding checkpoint under its profile: the collator encodes queries with
their instruction in the system turn and candidates without one, the tiny run learns, and the
adapter checkpoints and the merged model reload with the profile (whatever their folder name)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mme5 import Embedder, Item
from mme5.config import load_config
from mme5.training.config import TrainConfig

PROFILE = "qwen3-vl-embedding"


@pytest.fixture(scope="module")
def run(tiny_dirs, tmp_path_factory):
    from mme5.training.run import train

    root = tmp_path_factory.mktemp("q3train")
    base = shutil.copytree(tiny_dirs("qwen3_vl"), root / "Qwen3-VL-Embedding-tiny")
    out = root / "out"
    sets = {
        "output_dir": out,
        "model.name_or_path": base,
        "model.max_length": 1024,
        "data.sources": '[{path: "toy:shapes"}]',
        "data.negative_ratio": 1,
        "per_device_batch_size": 8,
        "gradcache_chunk_size": 4,
        "learning_rate": 2e-3,
        "max_steps": 8,
        "save_steps": 4,
        "logging_steps": 1,
        "save_merged": True,
        "seed": 0,
        "model.lora": "{r: 32, alpha: 32, dropout: 0.0, use_dora: false, init: gaussian, "
        "targets: [q_proj, k_proj, v_proj, gate_proj, up_proj, down_proj]}",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MME5_CACHE", str(root / "cache"))
        train(load_config(TrainConfig, None, [f"{k}={v}" for k, v in sets.items()]))
    return base, out


def test_candidates_lose_their_instruction_queries_keep_it(tiny_dirs) -> None:
    from mme5.data.collate import ContrastiveCollator
    from mme5.types import ContrastiveExample

    emb = Embedder.from_pretrained(tiny_dirs("qwen3_vl"), device="cpu", profile=PROFILE)
    ex = ContrastiveExample(
        Item(text="a cat", instruction="Find the photo"),
        Item(text="cat", instruction="Represent it"),
        (Item(text="dog", instruction="Represent it"),),
    )
    collator = ContrastiveCollator(emb, [ex], ["row 0"], negative_ratio=1)
    chunk = collator.chunk([0])
    decoded = [
        emb.tokenizer.decode(p[1]["input_ids"][0])
        for p in (chunk.query.parts[0], chunk.positive.parts[0], chunk.negatives.parts[0])
    ]
    assert "system\nFind the photo.<|im_end|>" in decoded[0]
    assert decoded[0].replace("<|endoftext|>", "").endswith("user\na cat<|im_end|>\n<|im_start|>assistant\n")
    assert all("system\nRepresent the user's input.<|im_end|>" in d for d in decoded[1:])
    assert collator.preparer.profile == PROFILE


def test_tiny_run_learns_and_keeps_the_profile(run) -> None:
    base, out = run
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    loss = [r["loss"] for r in rows if "loss" in r]
    assert len(loss) == 8 and np.mean(loss[-3:]) < np.mean(loss[:3])  # it learns
    items = [Item(text="a red circle", instruction="Find the shape"), Item(text="a blue square")]
    merged = Embedder.from_pretrained(out, device="cpu")
    adapter = Embedder.from_pretrained(base, adapter=out / "checkpoint-8", device="cpu")
    assert merged.profile == adapter.profile == PROFILE and merged.max_length == 8192
    np.testing.assert_allclose(merged.encode(items), adapter.encode(items), atol=1e-5)
    assert (out / "checkpoint-8" / "mme5_profile.json").is_file()
