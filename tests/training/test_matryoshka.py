"""Matryoshka loss: the weighted sum of per-prefix InfoNCE; GradCache and the plain step agree;
the trained dims are recorded and read back."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mme5.config import ConfigError
from mme5.data.collate import ContrastiveCollator
from mme5.quantize import trained_dims, untrained_dim_error
from mme5.training.config import TrainConfig
from mme5.training.gradcache import contrastive_step
from mme5.training.losses import info_nce, matryoshka
from mme5.training.run import loss_function, validate

from .test_losses import reference, unit


def prefix(x, d):
    return F.normalize(x[..., :d], dim=-1)


def test_loss_is_the_weighted_sum_of_per_prefix_info_nce_with_hard_negatives():
    q, t = unit(4, 16, 0), unit(4, 16, 1)
    negs = unit(8, 16, 2).reshape(4, 2, 16)
    mask = torch.tensor([[True, True], [True, False], [False, False], [True, True]])
    dims, weights = [4, 8, None], [0.5, 1.0, 2.0]
    expected = sum(
        w * reference(prefix(q, d or 16), prefix(t, d or 16), prefix(negs, d or 16), mask, pos_of=lambda i: i)
        for d, w in zip(dims, weights)
    )
    got = matryoshka(info_nce, dims, weights)(q, t, negs, hard_negative_mask=mask)
    assert got.item() == pytest.approx(expected, rel=1e-9)
    assert matryoshka(info_nce, [16])(q, t).item() == pytest.approx(info_nce(q, t).item(), rel=1e-12)


def test_symmetric_loss_and_prefix_errors():
    q, t = unit(3, 8, 3), unit(3, 8, 4)
    both = matryoshka(info_nce, [2, None])(q, t, symmetric=True)
    expected = info_nce(prefix(q, 2), prefix(t, 2), symmetric=True) + info_nce(q, t, symmetric=True)
    assert both.item() == pytest.approx(expected.item(), rel=1e-12)
    with pytest.raises(ValueError, match="exceeds the embedding dim 8"):
        matryoshka(info_nce, [16])(q, t)
    with pytest.raises(ValueError, match="2 matryoshka weights for 1 dims"):
        matryoshka(info_nce, [4], [1.0, 2.0])


def test_gradcache_and_plain_agree_under_matryoshka(trainable, mixed_examples):
    model = trainable("mllama")
    examples, wheres = mixed_examples
    loss_fn = matryoshka(info_nce, [4, 16, None], [1.0, 0.5, 1.0])
    results = []
    for chunk_size in (None, 2):
        collate = ContrastiveCollator(model.embedder, examples, wheres, negative_ratio=2, chunk_size=chunk_size)
        loss = contrastive_step(
            model, collate([list(range(len(examples)))])["chunks"], loss_fn=loss_fn, backward=lambda x, _: x.backward()
        )
        results.append((loss, {n: p.grad.clone() for n, p in model.trainable_parameters().items()}))
        model.zero_grad(set_to_none=True)
    (plain, plain_grads), (cached, cached_grads) = results
    assert plain > 0
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)
    for name, g in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], g, atol=1e-5, rtol=1e-4, msg=name)


def test_config_checks_and_the_loss_the_trainer_uses():
    with pytest.raises(ConfigError, match="matryoshka_weights: 1 weights for 2"):
        validate(TrainConfig(matryoshka_dims=(8, "full"), matryoshka_weights=(1.0,)))
    with pytest.raises(ConfigError, match="matryoshka_dims"):
        validate(TrainConfig(matryoshka_dims=(0,)))
    with pytest.raises(ConfigError, match=r"\[64\] exceed the model's embedding dim 32"):
        loss_function(TrainConfig(matryoshka_dims=(64, "full")), 32)
    q, t = unit(4, 32, 5), unit(4, 32, 6)
    cfg = TrainConfig(matryoshka_dims=(8, "full"), temperature=0.05)
    expected = info_nce(prefix(q, 8), prefix(t, 8), temperature=0.05) + info_nce(q, t, temperature=0.05)
    assert loss_function(cfg, 32)(q, t).item() == pytest.approx(expected.item(), rel=1e-12)


def test_trained_dims_are_read_from_the_checkpoint_config(tmp_path):
    from mme5.config import to_dict
    from mme5.training.trainer import write_config

    write_config(tmp_path / "run", to_dict(TrainConfig(matryoshka_dims=(16, 32, "full"))))
    write_config(tmp_path / "plain", to_dict(TrainConfig()))
    assert trained_dims([None, tmp_path / "run"], 64) == (16, 32, 64)
    assert trained_dims([tmp_path / "plain"], 64) == (64,)
    assert trained_dims([tmp_path / "nothing"], 64) is None
    assert untrained_dim_error(32, (16, 32, 64), 64) is None
    assert "trained for 16, 32, 64" in untrained_dim_error(24, (16, 32, 64), 64)
    assert "exceeds the model's 64" in untrained_dim_error(65, None, 64)
    assert untrained_dim_error(24, None, 64) is None
