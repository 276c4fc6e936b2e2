"""InfoNCE against a hand-written per-query reference (plain Python floats)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mme5.training.losses import info_nce, positive_index


def unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def reference(q, t, negs=None, mask=None, tau=0.02, pos_of=None):
    """-mean_i log softmax over [q_i . t_j for all j] + [q_i . n_ik for valid k], at pos_of(i)."""
    total = 0.0
    for i in range(len(q)):
        scores = [float(q[i] @ t[j]) / tau for j in range(len(t))]
        if negs is not None:
            scores += [float(q[i] @ negs[i, k]) / tau for k in range(negs.shape[1]) if mask is None or mask[i, k]]
        top = max(scores)
        log_z = top + math.log(sum(math.exp(s - top) for s in scores))
        total += log_z - scores[pos_of(i)]
    return total / len(q)


def test_in_batch_only():
    q, t = unit(5, 8, 0), unit(5, 8, 1)
    expected = reference(q, t, pos_of=lambda i: i)
    assert info_nce(q, t).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("ratio", [2, 3])
def test_targets_outnumber_queries(ratio):
    """Targets grouped per query (positive first): the positive of query i is target i * ratio."""
    q, t = unit(4, 8, 2), unit(4 * ratio, 8, 3)
    expected = reference(q, t, pos_of=lambda i: i * ratio)
    assert info_nce(q, t).item() == pytest.approx(expected, rel=1e-9)
    # the integer-division bug of the peer toolkit (index i * (n_q // n_t) = 0) gives another value
    assert reference(q, t, pos_of=lambda i: 0) != pytest.approx(expected, rel=1e-3)


def test_queries_outnumber_targets():
    q, t = unit(6, 8, 4), unit(3, 8, 5)
    expected = reference(q, t, pos_of=lambda i: i // 2)
    assert info_nce(q, t).item() == pytest.approx(expected, rel=1e-9)


def test_hard_negatives_only_score_their_own_query():
    q, t = unit(4, 8, 6), unit(4, 8, 7)
    negs = unit(12, 8, 8).view(4, 3, 8)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=torch.bool)
    expected = reference(q, t, negs, mask, pos_of=lambda i: i)
    got = info_nce(q, t, negs, hard_negative_mask=mask)
    assert got.item() == pytest.approx(expected, rel=1e-9)
    assert info_nce(q, t, negs).item() == pytest.approx(reference(q, t, negs, pos_of=lambda i: i), rel=1e-9)
    # a masked slot must not matter, whatever it holds
    garbage = negs.clone()
    garbage[~mask] = 5.0
    assert info_nce(q, t, garbage, hard_negative_mask=mask).item() == pytest.approx(expected, rel=1e-9)


def test_temperature_and_gradient_of_masked_negatives():
    q, t = unit(3, 4, 9).requires_grad_(), unit(3, 4, 10)
    negs = unit(6, 4, 11).view(3, 2, 4).requires_grad_()
    mask = torch.tensor([[1, 0], [1, 1], [0, 1]], dtype=torch.bool)
    loss = info_nce(q, t, negs, hard_negative_mask=mask, temperature=0.5)
    assert loss.item() == pytest.approx(reference(q.detach(), t, negs.detach(), mask, tau=0.5, pos_of=lambda i: i), rel=1e-9)
    loss.backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(negs.grad).all()
    assert (negs.grad[~mask] == 0).all() and (negs.grad[mask].abs().sum(-1) > 0).all()


def test_symmetric_adds_target_to_query_direction():
    q, t = unit(4, 8, 12), unit(8, 8, 13)  # 2 targets per query: positives at 0, 2, 4, 6
    forward = reference(q, t, pos_of=lambda i: 2 * i)
    backward = reference(t[::2], q, pos_of=lambda i: i)  # each positive against all queries
    assert info_nce(q, t, symmetric=True).item() == pytest.approx((forward + backward) / 2, rel=1e-9)
    with pytest.raises(ValueError, match="one positive per query"):
        info_nce(unit(4, 8, 0), unit(2, 8, 1), symmetric=True)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="multiple"):
        positive_index(4, 6)
    with pytest.raises(ValueError, match="hard_negatives"):
        info_nce(unit(2, 4, 0), unit(2, 4, 1), unit(3, 4, 2).view(3, 1, 4))
