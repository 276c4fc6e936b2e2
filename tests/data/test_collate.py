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


def test_skip_replaces_a_corrupt_image_keeping_the_batch_size(tiny_embedder, tmp_path):
    """A corrupt file passes `check_images: exists`; under on_bad_image=skip its example is replaced
    at batch time by the next readable one outside the batch (batch shapes stay equal across ranks)."""
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n not an image")
    image_target = "<|image_1|>\nRepresent the given image.\n"
    examples = [ContrastiveExample(Item(text=f"q{i}"), Item(text=f"p{i}")) for i in range(6)]
    examples[1] = ContrastiveExample(Item(text="q1"), Item(text=image_target, image=str(bad)))
    examples[4] = ContrastiveExample(Item(text="q4"), Item(text="p4"), (Item(text=image_target, image=str(bad)),))
    examples[5] = ContrastiveExample(Item(text="q5"), Item(text="p0"))  # repeats example 0's positive
    wheres = [f"t.jsonl:{i + 1}" for i in range(6)]
    collate = ContrastiveCollator(tiny_embedder("mllama"), examples, wheres, negative_ratio=1, chunk_size=2,
                                  on_bad_image="skip")
    batch = collate([[0, 1, 2]])
    assert batch["size"] == 3 and [c.size for c in batch["chunks"]] == [2, 1]
    # 3 is the next readable example outside the batch; 4 is corrupt, 5's positive is already in the batch
    [line] = batch["replaced"]
    assert line.startswith(f"t.jsonl:2 positive: cannot read image {bad}") and line.endswith("; replaced by t.jsonl:4")
    assert collate([[0, 2, 3]])["replaced"] == []
    with pytest.raises(InputError, match=r"t\.jsonl:5 hard_negatives\[0\]: cannot read image"):
        ContrastiveCollator(tiny_embedder("mllama"), examples, wheres, negative_ratio=1)([[4]])
