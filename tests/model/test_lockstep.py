"""Lockstep batches (DeepSpeed ZeRO-3): the same modules run whatever the items, same vectors."""
import numpy as np
import pytest
import torch

from mme5 import Item


@pytest.mark.parametrize("name", ["mllama", "qwen2_vl", "idefics3"])
def test_lockstep_runs_the_same_parts_and_gives_the_same_vectors(name, tiny_embedder, rgb_images):
    embedder = tiny_embedder(name)
    batches = [[Item(text="only text"), Item(text="more text here")],
               [Item(image=rgb_images[0], instruction="Represent the given image.")],
               [Item(text="a red circle"), Item(image=rgb_images[1], text="what is this?", instruction="Q:")]]
    shapes = []
    for items in batches:
        plain = embedder.forward(embedder.prepare(items))
        prepared = embedder.prepare(items, lockstep=True)
        shapes.append([("pixel_values" in inputs) for _, inputs in prepared.parts])
        assert prepared.size == len(items) and sum(r >= 0 for rows, _ in prepared.parts for r in rows) == len(items)
        with torch.no_grad():
            np.testing.assert_allclose(embedder.forward(prepared).numpy(), plain.detach().numpy(), atol=1e-5)
    # every batch runs the same sequence of forwards, each through the vision tower where images go
    assert all(s == shapes[0] for s in shapes) and shapes[0][-1]
