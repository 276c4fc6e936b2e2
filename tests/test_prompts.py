"""mme5.prompts is the one home of the mmE5 instructions: no other source file spells one out, and
every builder that writes them produces the exact mmE5 / MMEB strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mme5 import prompts
from mme5.types import Item

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "src" / "mme5").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])


def _literals() -> list[str]:
    """The string constants of mme5.prompts long enough to be unambiguous, placeholders stripped."""
    values: set[str] = set()
    for name, value in vars(prompts).items():
        if not name.isupper():
            continue
        if isinstance(value, dict):
            value = tuple(value.values())
        values.update(v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, str))
    bare = {v.replace("<|image_1|>\n", "").strip() for v in values}
    return sorted(v for v in bare if len(v) >= 20)


def test_the_instructions_are_all_found_by_the_scan():
    found = _literals()
    for instruction in prompts.INSTRUCTIONS:
        assert instruction in found
    assert len(SOURCES) > 50  # the scan really reads the package


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_instruction_literal_outside_prompts(path: Path):
    if path == ROOT / "src" / "mme5" / "prompts.py":
        return
    text = path.read_text(encoding="utf-8")
    # the escaped form a string literal would carry too (a newline written as \n)
    escaped = text.replace("\\n", "\n")
    leaked = [lit for lit in _literals() if lit in text or lit in escaped]
    assert not leaked, f"{path.relative_to(ROOT)} spells out {leaked}; import it from mme5.prompts"


def test_the_scan_catches_a_literal(tmp_path: Path):
    sneaky = tmp_path / "x.py"
    sneaky.write_text('INSTRUCTION = "Represent the given image with the following question:"\n')
    assert any(lit in sneaky.read_text() for lit in _literals())


def test_join_and_hub_text_follow_the_mmE5_convention():
    # written out by hand, as the mmE5 / MMEB data carries them
    assert prompts.join_instruction("Do this:", "a text") == "Do this: a text\n"
    assert prompts.join_instruction("Do this:", None) == "Do this:\n"
    assert prompts.join_instruction(None, "bare") == "bare"
    assert prompts.hub_text("Represent the given image.", image=True) == "<|image_1|>\nRepresent the given image.\n"
    assert prompts.XTD_IMAGE_TARGET == "<|image_1|>\nRepresent the given image.\n"
    assert prompts.XTD_QUERY_INSTRUCTION == "Find me an everyday image that matches the given caption:"


def test_toy_rows_carry_the_mmeb_wording():
    """The toy set once spelled the query instruction with a trailing space and appended the caption;
    the rows must be byte-identical to MMEB's MSCOCO_t2i / classification strings."""
    from mme5.data.toy import toy_rows

    rows = toy_rows()
    t2i = next(r for r in rows if r["modality"] == "T2I")
    i2t = next(r for r in rows if r["modality"] == "I2T")
    assert t2i["qry"] == "Find me an everyday image that matches the given caption: a red circle\n"
    assert t2i["pos_text"] == "<|image_1|>\nRepresent the given image.\n"
    assert json.loads(t2i["neg_text"]) == ["<|image_1|>\nRepresent the given image.\n"]
    assert i2t["qry"] == "<|image_1|>\nRepresent the given image for classification\n"


def test_training_and_evaluation_format_the_same_string():
    """A toy training query and the same caption as an XTD evaluation query reach the model as one string."""
    from mme5.data.toy import toy_rows
    from mme5.model.backbones import get_backbone
    from mme5.model.formatting import format_text

    backbone = get_backbone("mllama")
    trained = format_text(Item(text=toy_rows()[0]["qry"]), backbone)
    evaluated = format_text(Item(text="a red circle", instruction=prompts.XTD_QUERY_INSTRUCTION), backbone)
    assert trained == evaluated
