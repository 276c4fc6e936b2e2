"""Synthesis rows: the training schema's columns (through `schema_row`) plus documented metadata,
with the mmE5 wording for image targets."""

from __future__ import annotations

import json

import pytest

from mme5.data.schema import TRAINING_COLUMNS, row_to_example
from mme5.synthesis.plan import MODALITIES, PlannedSample
from mme5.synthesis.rows import sample_row
from mme5.synthesis.schema import json_schema, output_model
from fixtures.stub_server import fill_schema


def _row(modality: str) -> dict:
    m = MODALITIES[modality]
    plan = PlannedSample(
        index=0, id="s0", task="retrieval", modality=modality, language="de", anchor=0, positive_rank=1, negative_rank=9
    )
    images = {
        role: f"{role}.png"
        for role, wanted in (
            ("query_image", m.query_image),
            ("positive_image", m.target_image),
            ("negative_image", m.target_image),
        )
        if wanted
    }
    reply = output_model(modality).model_validate(fill_schema(json_schema(modality), 1))
    return sample_row(
        plan,
        images,
        reply,
        usage={"prompt_tokens": 1},
        backend="stub",
        model="m",
        prompt_version="1",
        repairs=[],
        dedup_key="d",
        text_key="t",
    )


@pytest.mark.parametrize("modality", ["T2I", "IT2IT", "I2T"])
def test_rows_load_as_training_examples(tmp_path, modality):
    row = _row(modality)
    assert set(TRAINING_COLUMNS) <= set(row)
    assert row["language"] == "de" and row["qry"].replace("<|image_1|>\n", "").startswith(row["instruction"])
    example = row_to_example(row, where="shard:1", source="synthetic", image_root=tmp_path, negative_ratio=1)
    m = MODALITIES[modality]
    assert example.query.has_image == m.query_image and example.positive.has_image == m.target_image
    assert len(example.hard_negatives) == 1
    if m.target_image:
        revised = json.loads(row["draft"])  # same shape as revised; the written text follows the mmE5 wording
        expected = (
            "Represent the given image with the following text: "
            if "positive_text" in revised
            else "Represent the given image."
        )
        assert example.positive.text.startswith("<|image_1|>\n" + expected)
