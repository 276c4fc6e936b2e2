"""Two processes (torchrun, gloo) give the loss and gradients of one process on the whole batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mme5.data.collate import ContrastiveCollator
from mme5.data.sources import load_examples
from mme5.training.gradcache import contrastive_step
from mme5.training.model import save_weights

HERE = Path(__file__).parent


def torchrun(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    errors = [line for line in out.stderr.splitlines() if "error" in line.lower()]  # every rank's, not just the tail
    assert out.returncode == 0, "\n".join(errors[:30]) + "\n---\n" + out.stdout[-2000:] + out.stderr[-4000:]
    return out


@pytest.mark.slow
@pytest.mark.integration
def test_ddp_two_ranks_equal_one_process(trainable, tiny_dirs, schema_jsonl, tmp_path):
    model = trainable("mllama")
    save_weights(model, tmp_path / "adapter")
    examples = load_examples(schema_jsonl, negative_ratio=2)
    assert len(examples) == 8
    collate = ContrastiveCollator(model.embedder, examples, [str(i) for i in range(8)], negative_ratio=2)
    loss = contrastive_step(model, collate([list(range(8))])["chunks"], backward=lambda l, last: l.backward())
    expected = {n: p.grad.clone() for n, p in model.trainable_parameters().items()}
    assert sum(bool(g.abs().sum() > 0) for g in expected.values()) > 0.9 * len(expected)

    torchrun(str(HERE / "ddp_worker.py"), str(tiny_dirs("mllama")), str(tmp_path / "adapter"),
             str(schema_jsonl), str(tmp_path))
    losses = json.loads((tmp_path / "losses.json").read_text())
    for mode in ("plain", "gradcache"):
        assert losses[mode] == pytest.approx(loss.item(), abs=1e-5), mode
        got = load_file(tmp_path / f"{mode}.safetensors")
        assert got.keys() == expected.keys()
        for name, g in expected.items():
            torch.testing.assert_close(got[name], g, atol=1e-5, rtol=1e-4, msg=f"{mode}: {name}")
