"""The training schema: safe negative parsing, the original's padding/replacement rules, row errors."""
from __future__ import annotations

import pytest

from mme5.data.schema import fill_empty_texts, fit_negatives, parse_string_list, row_to_example
from mme5.types import InputError, Item


@pytest.mark.parametrize("value, expected", [
    ("['a', 'b']", ["a", "b"]),                       # what the hub stores (Python literal)
    ('["a", "it\'s"]', ["a", "it's"]),                 # JSON
    (["x", "y"], ["x", "y"]),                          # a real list (JSONL / parquet)
    ("<|image_1|>\nRepresent the given image.\n", ["<|image_1|>\nRepresent the given image.\n"]),
    ("398,627.92", ["398,627.92"]),                    # bare strings that happen to parse as Python
    ("goldfish", ["goldfish"]),
    ("'goldfish'", ["goldfish"]),                      # a quoted literal: its value, as the original's eval
    ('"it\'s"', ["it's"]),
    ("'a', 'b'", ["'a', 'b'"]),                        # a tuple literal is not a string: kept as text
    ("Paris (France)", ["Paris (France)"]),
    ("1/8/93", ["1/8/93"]),
    ("", []), (None, []), ("[]", []),
])
def test_accepted_negative_fields(value, expected):
    assert parse_string_list(value, "row 1") == expected


@pytest.mark.parametrize("value", [
    "__import__('os').system('touch {marker}')",
    "[__import__('os').system('touch {marker}')]",
    "open('{marker}', 'w').write('x')",
    "(lambda: __import__('os').system('touch {marker}'))()",
    "exec('import os; os.system(\"touch {marker}\")')",
])
def test_code_is_rejected_not_run(value, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(InputError, match=r"data\.jsonl:7 neg_text"):
        parse_string_list(value.format(marker=marker), "data.jsonl:7 neg_text")
    assert not marker.exists()


@pytest.mark.parametrize("value, message", [
    ("['a', 1]", "must be strings"),
    ("['a', ['b']]", "must be strings"),
    ("['unclosed", None),
    ("[1, 2", None),
])
def test_malformed_lists_name_the_row(value, message):
    with pytest.raises(InputError, match=r"train\.parquet row 12") as err:
        parse_string_list(value, "train.parquet row 12 neg_text")
    if message:
        assert message in str(err.value)
    with pytest.raises(InputError, match="row 3"):
        parse_string_list(3.5, "row 3")


def test_fit_negatives_truncates_or_repeats_the_last():
    assert fit_negatives(["a", "b", "c", "d"], 3) == ["a", "b", "c"]
    assert fit_negatives(["a", "b"], 4) == ["a", "b", "b", "b"]
    assert fit_negatives([], 3) == [] and fit_negatives(["a"], 0) == []


def test_empty_negative_text_is_replaced_like_the_original():
    import random

    rng = random.Random(0)
    # all of the row's negatives identical (all empty) -> the positive text
    assert fill_empty_texts(["", ""], ["", ""], "POS", rng) == ["POS", "POS"]
    # otherwise a non-empty negative of the row
    assert fill_empty_texts(["", "b"], ["", "b", "c"], "POS", rng)[0] in {"b", "c"}
    assert fill_empty_texts(["a"], ["a", ""], "POS", rng) == ["a"]


def test_row_to_example(tmp_path):
    row = {"qry": "<|image_1|>\nRepresent the given image with the following question: what?\n",
           "qry_image_path": "images/q.jpg", "pos_text": "1/8/93", "pos_image_path": "",
           "neg_text": "['398,627.92', '']", "neg_image_path": "", "modality": "IT2T"}
    ex = row_to_example(row, where="DocVQA row 0", source="DocVQA", image_root=tmp_path, negative_ratio=3)
    assert ex.query == Item(text=row["qry"], image=str(tmp_path / "images/q.jpg"))
    assert ex.positive == Item(text="1/8/93", image=None)
    # padded to 3 by repeating the last (empty) one; empties replaced by the other negative
    assert [n.text for n in ex.hard_negatives] == ["398,627.92"] * 3
    assert ex.source == "DocVQA"
    image_negs = dict(row, neg_text="['<|image_1|>\\nRepresent the given image.\\n']", neg_image_path="['a.jpg', 'b.jpg']")
    ex = row_to_example(image_negs, where="r", source="s", image_root=None, negative_ratio=2)
    assert [(n.text, n.image) for n in ex.hard_negatives] == [
        ("<|image_1|>\nRepresent the given image.\n", "a.jpg"), ("<|image_1|>\nRepresent the given image.\n", "b.jpg")]
    assert row_to_example(row, where="r", source="s", image_root=None, negative_ratio=0).hard_negatives == ()


def test_bad_rows_are_named():
    base = {"qry": "q", "qry_image_path": "", "pos_text": "p", "pos_image_path": ""}
    with pytest.raises(InputError, match=r"f\.jsonl:3: missing column\(s\) \['pos_text'\]"):
        row_to_example({k: v for k, v in base.items() if k != "pos_text"}, where="f.jsonl:3", source="s",
                       image_root=None, negative_ratio=1)
    with pytest.raises(InputError, match="f.jsonl:4: the positive has neither text nor image"):
        row_to_example(dict(base, pos_text=""), where="f.jsonl:4", source="s", image_root=None, negative_ratio=1)
    with pytest.raises(InputError, match="f.jsonl:5 neg_text: .*looks like code"):
        row_to_example(dict(base, neg_text="__import__('os').getcwd()"), where="f.jsonl:5", source="s",
                       image_root=None, negative_ratio=1)


def test_schema_row_is_the_contract_the_loader_reads(tmp_path):
    from mme5.data.schema import TRAINING_COLUMNS, schema_row
    from mme5.data.toy import toy_rows

    row = schema_row("Find it: a cat\n", "", "<|image_1|>\nImage.\n", "pos.png", ["<|image_1|>\nImage.\n"],
                     ["neg.png"], modality="T2I")
    assert tuple(row) == TRAINING_COLUMNS
    assert row["neg_text"] == '["<|image_1|>\\nImage.\\n"]' and row["neg_image_path"] == '["neg.png"]'
    ex = row_to_example(row, where="r", source="s", image_root=tmp_path, negative_ratio=1)
    assert ex.query == Item(text="Find it: a cat\n")
    assert ex.positive == Item(text="<|image_1|>\nImage.\n", image=str(tmp_path / "pos.png"))
    assert ex.hard_negatives == (Item(text="<|image_1|>\nImage.\n", image=str(tmp_path / "neg.png")),)
    # a negative that reads like a list literal or code stays one text (JSON list, parsed as data)
    tricky = schema_row("q", positive="p", negatives=["['a', 'b']", "__import__('os')"])
    ex = row_to_example(tricky, where="r", source="s", image_root=None, negative_ratio=2)
    assert [n.text for n in ex.hard_negatives] == ["['a', 'b']", "__import__('os')"]
    assert schema_row("q", positive="p")["neg_text"] == ""  # no negatives
    assert all(tuple(r) == TRAINING_COLUMNS for r in toy_rows())


def test_metadata_columns_do_not_change_the_example():
    """Synthesis writes `instruction`, `language`, `task`, ... beside the contract: training ignores them."""
    from mme5.data.schema import schema_row

    row = schema_row("Find me a picture: un chat\n", positive="<|image_1|>\nImage.\n", positive_image="/p.png",
                     modality="T2I")
    with_meta = dict(row, instruction="Find me a picture:", language="fr", task="retrieval", score_relevance=5)
    assert row_to_example(with_meta, where="r", source="s", image_root=None, negative_ratio=1) == \
        row_to_example(row, where="r", source="s", image_root=None, negative_ratio=1)
