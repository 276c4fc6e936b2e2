"""Kept samples and failures as rows: the training schema's columns plus metadata.

The training columns come from `mme5.data.schema.schema_row` (the contract `mme5 train` reads:
`qry`, `qry_image_path`, `pos_text`, `pos_image_path`, `neg_text`, `neg_image_path`, `modality`).
The other columns (`instruction`, `language`, `task`, scores, provenance) are metadata for
analysis and filtering; training does not read them: the instruction is already the start of
`qry`. A text whose side has an image starts with `<|image_1|>\\n`; the
query is `"{instruction} {query_text}\\n"` (or `"{instruction}\\n"` without a query text); a
text target is the bare text, an image target reads `mme5.prompts.REPRESENT_IMAGE`, an
image+text target `REPRESENT_IMAGE_WITH_TEXT` followed by the text. The hard
negative is written as a one-element JSON list in `neg_text` / `neg_image_path` (the list form
of the hard-negative sets), so no negative text can be misread as a list or as code. Image
paths are relative to the run's image root (manifest.json). Nested provenance (descriptions,
evaluation, improvements) is stored as JSON strings so every row has the same columns.
"""

from __future__ import annotations

import json
from typing import Any

from ..data.schema import schema_row
from ..prompts import REPRESENT_IMAGE, REPRESENT_IMAGE_WITH_TEXT, hub_text
from .plan import MODALITIES, PlannedSample


def _target(text: str | None, image: bool) -> str:
    if not image:
        return text or ""
    return hub_text(REPRESENT_IMAGE_WITH_TEXT if text else REPRESENT_IMAGE, text, image=True)


def sample_row(
    plan: PlannedSample,
    images: dict[str, str],
    reply: Any,
    *,
    usage: dict[str, Any],
    backend: str,
    model: str,
    prompt_version: str,
    repairs: list[str],
    dedup_key: str,
    text_key: str,
) -> dict[str, Any]:
    """The output row of a kept sample (`images`: role -> path relative to the image root; `reply`:
    an instance of `schema.output_model(plan.modality)`, a model built at run time)."""
    m = MODALITIES[plan.modality]
    revised = reply.revised.model_dump()
    evaluation = reply.self_evaluation.model_dump()
    row: dict[str, Any] = schema_row(
        hub_text(revised["instruction"], revised.get("query_text"), image=m.query_image),
        images.get("query_image", ""),
        _target(revised.get("positive_text"), m.target_image),
        images.get("positive_image", ""),
        [_target(revised.get("negative_text"), m.target_image)],
        [images["negative_image"]] if "negative_image" in images else [],
        modality=plan.modality,
    )
    row.update(
        {
            "id": plan.id,
            "plan_index": plan.index,
            "task": plan.task,
            "language": plan.language,
            "instruction": revised["instruction"],
            "descriptions": json.dumps(reply.descriptions.model_dump(), ensure_ascii=False),
            "draft": json.dumps(reply.draft.model_dump(), ensure_ascii=False),
            "self_evaluation": json.dumps(evaluation, ensure_ascii=False),
            "improvements": json.dumps(reply.improvements, ensure_ascii=False),
            **{f"score_{k}": v["score"] for k, v in evaluation.items()},
            "backend": backend,
            "model": model,
            "prompt_version": prompt_version,
            "repairs": json.dumps(repairs),
            "dedup_key": dedup_key,
            "text_key": text_key,
        }
    )
    row.update(usage)
    return row


def failure_row(plan: PlannedSample, reason: str, *, usage: dict[str, Any], backend: str, model: str) -> dict[str, Any]:
    """The record of a sample that was given up, with the final reason."""
    return {
        "id": plan.id,
        "plan_index": plan.index,
        "task": plan.task,
        "modality": plan.modality,
        "language": plan.language,
        "reason": reason,
        "backend": backend,
        "model": model,
        **usage,
    }
