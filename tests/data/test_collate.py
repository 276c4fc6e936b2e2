"""Collation: chunks by examples, negative masks, and errors that name the row at batch time."""
from __future__ import annotations

import pytest

from mme5.data.collate import ContrastiveCollator
from mme5.types import ContrastiveExample, InputError, Item


def test_chunks_and_masks(tiny_embedder):
    examples = [ContrastiveExample(Item(text=f"q{i}"), Item(text=f"p{i}"), tuple(Item(text=f"n{i}{j}") for j in range(i % 3)))
                for i in range(5)]
    collate = ContrastiveCollator(tiny_embedder("mllama"), examples, [f"row {i}" for i in range(5)],
                                  negative_ratio=2, chunk_size=2)
    batch = collate([[0, 1, 2, 3, 4]])
    assert batch["size"] == 5 and [c.size for c in batch["chunks"]] == [2, 2, 1]
    masks = [c.negative_mask.tolist() for c in batch["chunks"]]
    assert masks == [[[False, False], [True, False]], [[True, True], [False, False]], [[True, False]]]
    assert batch["chunks"][0].negatives.size == 1 and batch["chunks"][2].negatives.size == 1
    with pytest.raises(ValueError, match="one micro-batch"):
        collate([[0], [1]])


def test_corrupt_image_at_batch_time_names_the_row(tiny_embedder, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n not an image")
    examples = [ContrastiveExample(Item(text="q"), Item(text="<|image_1|>\nx\n", image=str(bad)))]
    collate = ContrastiveCollator(tiny_embedder("mllama"), examples, ["train.jsonl:3"], negative_ratio=0)
    with pytest.raises(InputError, match=r"train\.jsonl:3 positive: cannot read image .*broken\.png"):
        collate([[0]])
