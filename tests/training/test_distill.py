"""Distillation from reranker scores: the KL term against a hand-written reference, teacher scores
read from rows (aligned with the negatives), carried by the collator into the step's loss, and
GradCache still equal to the plain step with the term on."""

from __future__ import annotations

import json
import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from mme5.data.schema import row_to_example
from mme5.training.losses import distill_kl, info_nce, info_nce_with_distillation
from mme5.types import ContrastiveExample, Item


def _unit(*shape, seed):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def test_kl_equals_a_hand_computed_reference() -> None:
    q, p, n = _unit(3, 8, seed=0), _unit(3, 8, seed=1), _unit(3, 2, 8, seed=2)
    mask = torch.tensor([[True, True], [True, False], [True, True]])
    teacher = torch.tensor([[2.0, 0.5, -1.0], [1.0, 3.0, float("nan")], [float("nan")] * 3], dtype=torch.float64)
    tau, tau_t = 0.05, 2.0
    total, rows = 0.0, 0
    for i in range(2):  # row 2 has no teacher scores
        k = int(mask[i].sum())
        s = [float(q[i] @ p[i]) / tau] + [float(q[i] @ n[i, j]) / tau for j in range(k)]
        t = [float(teacher[i, j]) / tau_t for j in range(1 + k)]
        zs, zt = math.log(sum(math.exp(x) for x in s)), math.log(sum(math.exp(x) for x in t))
        total += sum(math.exp(t[j] - zt) * ((t[j] - zt) - (s[j] - zs)) for j in range(1 + k))
        rows += 1
    got = distill_kl(q, p, n, mask, teacher, temperature=tau, teacher_temperature=tau_t)
    assert got.item() == pytest.approx(total / rows, rel=1e-10)
    both = info_nce_with_distillation(
        q,
        p,
        n,
        hard_negative_mask=mask,
        teacher=teacher,
        distill_weight=0.3,
        temperature=tau,
        teacher_temperature=tau_t,
    )
    plain = info_nce(q, p, n, hard_negative_mask=mask, temperature=tau)
    assert both.item() == pytest.approx(plain.item() + 0.3 * total / rows, rel=1e-10)
    assert info_nce_with_distillation(q, p, n, hard_negative_mask=mask, temperature=tau).item() == plain.item()


def test_teacher_scores_follow_the_negatives_of_a_row() -> None:
    row = {
        "qry": "q",
        "qry_image_path": "",
        "pos_text": "p",
        "pos_image_path": "",
        "neg_text": json.dumps(["a", "b", "c"]),
        "neg_image_path": "",
        "teacher_scores": json.dumps([3, 1, 2, 0]),
    }
    two = row_to_example(row, where="r", source="s", image_root=None, negative_ratio=2)
    assert [n.text for n in two.hard_negatives] == ["a", "b"] and two.teacher_scores == (3.0, 1.0, 2.0)
    five = row_to_example(row, where="r", source="s", image_root=None, negative_ratio=5)  # padded by the last
    assert [n.text for n in five.hard_negatives] == ["a", "b", "c", "c", "c"]
    assert five.teacher_scores == (3.0, 1.0, 2.0, 0.0, 0.0, 0.0)
    from mme5.types import InputError

    with pytest.raises(InputError, match="teacher_scores must be a list of 4 numbers"):
        row_to_example({**row, "teacher_scores": "[1, 2]"}, where="r", source="s", image_root=None, negative_ratio=2)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_the_step_distils_and_gradcache_still_equals_the_plain_step(chunk_size, trainable) -> None:
    from mme5.data.collate import ContrastiveCollator
    from mme5.training.gradcache import contrastive_step

    model = trainable("qwen2_vl")
    examples = [
        ContrastiveExample(
            Item(text=f"query {i}"),
            Item(text=f"target {i}"),
            (Item(text=f"other {i}"), Item(text=f"far {i}")),
            teacher_scores=(2.0, 0.5 * i, -1.0),
        )
        for i in range(4)
    ]
    collate = ContrastiveCollator(
        model.embedder, examples, [str(i) for i in range(4)], negative_ratio=2, chunk_size=chunk_size
    )
    batch = collate([[0, 1, 2, 3]])
    assert torch.equal(batch["chunks"][0].teacher[0], torch.tensor([2.0, 0.0, -1.0]))
    seen = {}

    def loss_fn(*args, **kwargs):
        seen.update(kwargs)
        return info_nce_with_distillation(*args, **kwargs, distill_weight=0.5, temperature=0.05)

    def run():
        loss = contrastive_step(model, batch["chunks"], loss_fn=loss_fn, backward=lambda x, last: x.backward())
        grads = {n: p.grad.clone() for n, p in model.trainable_parameters().items()}
        model.zero_grad(set_to_none=True)
        return loss, grads

    loss, grads = run()
    assert seen["teacher"].shape == (4, 3)
    plain_loss = run_plain(model, examples)
    assert loss.item() != pytest.approx(plain_loss.item())  # the KL term is in the loss
    if chunk_size:
        whole = ContrastiveCollator(model.embedder, examples, [str(i) for i in range(4)], negative_ratio=2)
        batch = whole([[0, 1, 2, 3]])
        ref_loss, ref_grads = run()
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
        for name, g in ref_grads.items():
            assert torch.allclose(grads[name], g, atol=1e-5, rtol=1e-4), name


def run_plain(model, examples):
    from mme5.data.collate import ContrastiveCollator
    from mme5.training.gradcache import contrastive_step

    bare = [ContrastiveExample(e.query, e.positive, e.hard_negatives) for e in examples]
    batch = ContrastiveCollator(model.embedder, bare, [str(i) for i in range(4)], negative_ratio=2)([[0, 1, 2, 3]])
    loss = contrastive_step(
        model, batch["chunks"], loss_fn=partial(info_nce, temperature=0.05), backward=lambda x, last: x.backward()
    )
    model.zero_grad(set_to_none=True)
    return loss
