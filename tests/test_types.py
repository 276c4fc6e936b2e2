"""The one item parser: the same rules and messages wherever a JSON object becomes an Item."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mme5.types import ITEM_FIELDS, InputError, Item, parse_item


def test_fields_pass_through_and_relative_images_resolve(tmp_path: Path):
    row = {"text": "a cat", "image": "img/cat.png", "instruction": "Find:", "language": "en"}
    assert parse_item(row, "x") == Item(text="a cat", image="img/cat.png", instruction="Find:", language="en")
    assert parse_item(row, "x", base_dir=tmp_path).image == str(tmp_path / "img" / "cat.png")
    absolute = str(tmp_path / "abs.png")
    assert parse_item({"image": absolute}, "x", base_dir="/elsewhere").image == absolute
    assert parse_item({"text": "t", "image": ""}, "x").image is None  # "" = no image
    assert parse_item("just text", "x") == Item(text="just text")
    item = Item(image=Image.new("RGB", (4, 4)))
    assert parse_item(item, "x") is item
    assert parse_item({"image": b"\x89PNG"}, "x").image == b"\x89PNG"  # Python callers may pass bytes


@pytest.mark.parametrize(
    "obj, message",
    [
        (
            {"txt": "a"},
            r"row 3: unknown field\(s\) \['txt'\]; allowed: text, image, video, pdf, page, instruction, language",
        ),
        ({"text": 5}, r"row 3: field 'text' must be a string, got int"),
        ({"text": "a", "language": ["en"]}, r"row 3: field 'language' must be a string, got list"),
        ({"image": 7}, r"row 3: field 'image' must be a path string, got int"),
        ({}, r"row 3 is empty: give at least one of text, image, video, pdf or instruction"),
        ({"text": "  \n", "instruction": "\t"}, r"row 3 is empty"),
        ({"language": "en"}, r"row 3 is empty"),
        ("   ", r"row 3 is empty"),
        (Item(text=""), r"row 3 is empty"),
        (
            [1, 2],
            r"row 3: expected an item object \{text, image, video, pdf, page, instruction, language\} or a string, got list",
        ),
    ],
)
def test_bad_items_are_refused_with_one_message(obj, message):
    with pytest.raises(InputError, match=message):
        parse_item(obj, "row 3")


def test_instruction_alone_is_an_item():
    assert parse_item({"instruction": "Represent the query"}, "x").instruction == "Represent the query"


def test_the_allowed_fields_are_item_fields():
    assert set(ITEM_FIELDS) <= set(Item.__dataclass_fields__)


class KeyEncoder:
    """A minimal Encoder that is not an Embedder: an item's vector is seeded by its image's file
    stem, or by its text when it has no image (so caption "cat" finds image cat.png)."""

    dim = 64
    fingerprint = "key-encoder-v1"
    backbone = type("Family", (), {"name": "key"})()

    def encode(self, items, batch_size=16, *, show_progress=None, where=None):
        import zlib

        import numpy as np

        keys = [
            Path(str(it.image)).stem if it.has_image else it.text for it in map(lambda x: parse_item(x, "i"), items)
        ]
        vecs = np.stack([np.random.default_rng(zlib.crc32(k.encode())).standard_normal(self.dim) for k in keys])
        return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


def test_evaluation_runs_on_any_encoder():
    from mme5.evaluation.retrieval import pairs_retrieval
    from mme5.types import Encoder

    assert isinstance(KeyEncoder(), Encoder)
    names = ["cat", "dog", "owl", "fox", "elk"]
    matched = pairs_retrieval(KeyEncoder(), [(n, "en", f"/imgs/{n}.png") for n in names], ks=(1,))
    assert matched.overall["tie_aware"]["recall@1"] == 100.0 and matched.n_gallery == 5
    shifted = pairs_retrieval(
        KeyEncoder(), [(n, "en", f"/imgs/{names[i - 1]}.png") for i, n in enumerate(names)], ks=(1,)
    )
    assert shifted.overall["tie_aware"]["recall@1"] == 0.0


def test_the_embedder_is_an_encoder(tiny_embedder):
    from mme5.types import Encoder

    embedder = tiny_embedder("mllama")
    assert isinstance(embedder, Encoder)
    assert embedder.encode(["hello"]).shape == (1, embedder.dim)
