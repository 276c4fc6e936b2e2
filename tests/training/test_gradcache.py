"""GradCache equals the plain full-batch computation: loss and every trainable gradient."""
from __future__ import annotations

import pytest
import torch

from mme5.data.collate import ContrastiveCollator
from mme5.training.gradcache import RngState, contrastive_step, embed_chunk
from mme5.training.losses import info_nce


def reference_step(model, examples, k):
    """The straightforward computation, written independently of the chunking code: embed each
    side of the whole batch at once, pad the negatives, one loss, one backward."""
    emb = model.embedder
    q = emb.forward(emb.prepare([e.query for e in examples]))
    p = emb.forward(emb.prepare([e.positive for e in examples]))
    flat = emb.forward(emb.prepare([n for e in examples for n in e.hard_negatives]))
    negatives = torch.zeros(len(examples), k, q.shape[1])
    mask = torch.zeros(len(examples), k, dtype=torch.bool)
    row = 0
    for i, e in enumerate(examples):
        for j in range(len(e.hard_negatives)):
            negatives[i, j], mask[i, j] = flat[row], True
            row += 1
    loss = info_nce(q, p, negatives, hard_negative_mask=mask)
    loss.backward()
    return loss.detach(), grads(model)


def grads(model):
    out = {n: p.grad.clone() for n, p in model.trainable_parameters().items()}
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("backbone", ["mllama", "qwen2_vl"])
def test_gradcache_equals_full_batch(backbone, trainable, mixed_examples):
    model = trainable(backbone)
    examples, wheres = mixed_examples
    ref_loss, ref_grads = reference_step(model, examples, k=2)
    assert ref_loss > 0 and sum(bool(g.abs().sum() > 0) for g in ref_grads.values()) > 0.9 * len(ref_grads)

    def backward(loss, last):
        loss.backward()

    for chunk_size in (None, 2, 4):  # None: one chunk = the plain path of the step
        collate = ContrastiveCollator(model.embedder, examples, wheres, negative_ratio=2, chunk_size=chunk_size)
        chunks = collate([list(range(len(examples)))])["chunks"]
        assert len(chunks) == (1 if chunk_size is None else -(-len(examples) // chunk_size))
        loss = contrastive_step(model, chunks, backward=backward)
        torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=0)
        got = grads(model)
        assert got.keys() == ref_grads.keys()
        for name, g in ref_grads.items():
            torch.testing.assert_close(got[name], g, atol=1e-5, rtol=1e-4, msg=f"{backbone} chunk {chunk_size}: {name}")


def test_rng_replay_reproduces_dropout(trainable, mixed_examples):
    """With dropout on, the re-forward under the saved RNG state equals the cached forward, and
    the caller's RNG stream is left where the first pass left it."""
    model = trainable("mllama", dropout=0.3)
    examples, wheres = mixed_examples
    chunk = ContrastiveCollator(model.embedder, examples, wheres, negative_ratio=2)([list(range(3))])["chunks"][0]
    state = RngState.capture(torch.device("cpu"))
    with torch.no_grad():
        first = embed_chunk(model, chunk)
        other = embed_chunk(model, chunk)  # a fresh draw: different masks
    after = torch.get_rng_state()
    with state.replay():
        again = embed_chunk(model, chunk)
    assert torch.equal(torch.get_rng_state(), after)
    assert max((a - b).abs().max() for a, b in zip(first, other)) > 1e-4  # dropout is really active
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b.detach(), atol=1e-6, rtol=0)


def test_dora_norms_are_computed_once_per_step_and_change_nothing(trainable, mixed_examples, monkeypatch):
    from peft.tuners.lora.dora import DoraLinearLayer

    from mme5.training.dora_cache import shared_dora_norms

    model = trainable("qwen2_vl")
    examples, wheres = mixed_examples
    chunk = ContrastiveCollator(model.embedder, examples, wheres, negative_ratio=2)([list(range(4))])["chunks"][0]
    calls = []
    original = DoraLinearLayer.get_weight_norm
    monkeypatch.setattr(DoraLinearLayer, "get_weight_norm", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    plain = [embed_chunk(model, chunk) for _ in range(2)]
    per_pass = len(calls) // 2
    calls.clear()
    with shared_dora_norms(model) as n_layers:
        shared = [embed_chunk(model, chunk) for _ in range(2)]
    assert n_layers > 0 and len(calls) == n_layers < 2 * per_pass
    for a, b in zip(plain[0] + plain[1], shared[0] + shared[1]):
        assert torch.equal(a, b)
    layer = next(m for m in model.modules() if isinstance(m, DoraLinearLayer))
    assert "get_weight_norm" not in vars(layer)  # the class method is back after the step


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_accumulation_averages_the_micro_batch_gradients(chunk_size, trainable, mixed_examples, tmp_path):
    """The trainer's step with gradient_accumulation_steps=2 (each micro-batch its own in-batch pool):
    the gradient reaching the optimizer is the mean of the two micro-batches' own gradients, and the
    logged loss the mean of their losses (plain step and GradCache)."""
    from transformers import TrainerCallback

    from mme5.data.collate import MicroBatches
    from mme5.training.config import TrainConfig
    from mme5.training.run import training_arguments
    from mme5.training.trainer import ContrastiveTrainer

    model = trainable("mllama")
    examples, wheres = mixed_examples
    micro = [[0, 1, 2], [3, 4, 5]]
    refs = [reference_step(model, [examples[i] for i in ids], k=2) for ids in micro]

    class Capture(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):  # after clipping (off here)
            self.grads = {n: p.grad.clone() for n, p in model.trainable_parameters().items()}

    capture = Capture()
    cfg = TrainConfig(output_dir=str(tmp_path), gradient_accumulation_steps=2, gradcache_chunk_size=chunk_size,
                      max_grad_norm=0.0, save_steps=100, bf16=False)
    trainer = ContrastiveTrainer(
        model=model, args=training_arguments(cfg, steps=1), train_dataset=MicroBatches(micro),
        data_collator=ContrastiveCollator(model.embedder, examples, wheres, negative_ratio=2, chunk_size=chunk_size),
        callbacks=[capture], run_config={}, loss_fn=info_nce, examples_per_step=6)
    result = trainer.train()
    assert result.global_step == 1
    assert result.training_loss == pytest.approx(float(refs[0][0] + refs[1][0]) / 2, abs=1e-5)
    for name, g in capture.grads.items():
        torch.testing.assert_close(g, (refs[0][1][name] + refs[1][1][name]) / 2, atol=1e-5, rtol=1e-4, msg=name)
