"""`lr_scheduler` and `warmup_steps` reach the HF Trainer: its scheduler follows warmup + cosine
(or linear) as an independent formula says; bad values are refused naming the key."""
from __future__ import annotations

import math

import pytest
import torch

from mme5.config import ConfigError, load_config
from mme5.training.config import TrainConfig
from mme5.training.run import training_arguments, validate


def _lrs(cfg: TrainConfig, steps: int) -> list[float]:
    """Learning rate at each step, built the way `Trainer.create_scheduler` builds it."""
    from transformers import get_scheduler

    args = training_arguments(cfg, steps)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    scheduler = get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=args.get_warmup_steps(steps),
                              num_training_steps=steps)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_cosine_with_warmup_steps(tmp_path):
    cfg = load_config(TrainConfig, None, [f"output_dir={tmp_path}", "learning_rate=2e-3", "lr_scheduler=cosine",
                                          "warmup_steps=30", "warmup_ratio=0.5"])  # warmup_steps wins
    lrs = _lrs(cfg, 200)
    for step, lr in enumerate(lrs):
        if step < 30:
            expected = 2e-3 * step / 30
        else:
            expected = 2e-3 * 0.5 * (1 + math.cos(math.pi * (step - 30) / 170))
        assert lr == pytest.approx(expected, rel=1e-6, abs=1e-12), step


def test_default_stays_linear_with_warmup_ratio(tmp_path):
    cfg = load_config(TrainConfig, None, [f"output_dir={tmp_path}", "learning_rate=1e-3", "warmup_ratio=0.1"])
    lrs = _lrs(cfg, 100)
    assert lrs[5] == pytest.approx(1e-3 * 5 / 10) and lrs[55] == pytest.approx(1e-3 * 45 / 90)


@pytest.mark.parametrize("override, key", [("warmup_steps=-1", "warmup_steps"),
                                           ("data.image_cache_mb=-5", "data.image_cache_mb")])
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        validate(load_config(TrainConfig, None, [override]))
    with pytest.raises(ConfigError, match="lr_scheduler"):
        load_config(TrainConfig, None, ["lr_scheduler=exponential"])
