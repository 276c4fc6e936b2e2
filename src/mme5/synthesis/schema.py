"""The ONE JSON object a backend returns per sample (the paper's single "deep thinking" pass),
as pydantic models built per modality combination: only the images and texts a combination
has appear in its schema. The same schema is sent to servers (`response_format`), drives
constrained decoding in the local backend, and validates every reply."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from .plan import MODALITIES, Modality

SCHEMA_VERSION = "1"
CRITERIA = ("relevance", "negative_plausibility", "instruction_clarity", "diversity")


class _Strict(BaseModel):
    # Replies with extra keys still validate (a model adding "notes" is not a broken sample);
    # the schema sent out says additionalProperties=false, which strict server modes require.
    model_config = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})


class ImageDescription(_Strict):
    """Multi-grained visual interpretation of one image."""

    general: str = Field(description="one or two sentences on what the image shows")
    objects: str = Field(description="object-level details: objects, attributes, counts, text in the image")
    context: str = Field(description="background, setting, style, time, mood")
    brainstorm: str = Field(description="how this image could relate to the texts this task needs")


class Score(_Strict):
    score: Literal[1, 2, 3, 4, 5]
    reason: str


class SelfEvaluation(_Strict):
    relevance: Score = Field(description="do the texts fit their images?")
    negative_plausibility: Score = Field(description="is the hard negative plausible yet wrong?")
    instruction_clarity: Score = Field(description="does the instruction clearly link query and positive?")
    diversity: Score = Field(description="is the sample different from the obvious, generic one?")


def _text_field(description: str) -> Any:
    return (str, Field(description=description))


def _strip(value: str) -> str:
    return value.strip() if isinstance(value, str) else value


@cache
def sample_model(modality: str) -> type[BaseModel]:
    """The draft / revised sample of a combination: the instruction plus the texts it needs."""
    m = MODALITIES[modality]
    fields: dict[str, Any] = {"instruction": _text_field("the task instruction, in English")}
    if m.query_text:
        fields["query_text"] = _text_field("the query text, in the target language")
    if m.target_text:
        fields["positive_text"] = _text_field("the positive (correct) target text, in the target language")
        fields["negative_text"] = _text_field("the hard-negative target text, in the target language")
    validators: dict[str, Any] = {"strip": field_validator("*", mode="before")(classmethod(lambda cls, v: _strip(v)))}
    return create_model(f"Sample_{modality}", __base__=_Strict, __validators__=validators, **fields)


def image_roles(m: Modality) -> tuple[str, ...]:
    """Images a combination shows the model, in the order they are attached."""
    roles = ["query_image"] if m.query_image else []
    if m.target_image:
        roles += ["positive_image", "negative_image"]
    return tuple(roles)


@cache
def output_model(modality: str) -> type[BaseModel]:
    """The whole reply: descriptions -> draft -> self_evaluation -> improvements -> revised."""
    m = MODALITIES[modality]
    roles: dict[str, Any] = {role: (ImageDescription, ...) for role in image_roles(m)}
    described = create_model(f"Descriptions_{modality}", __base__=_Strict, **roles)
    sample = sample_model(modality)
    return create_model(
        f"Reply_{modality}",
        __base__=_Strict,
        descriptions=(described, ...),
        draft=(sample, ...),
        self_evaluation=(SelfEvaluation, ...),
        improvements=(list[str], Field(min_length=1, max_length=5)),
        revised=(sample, ...),
    )


@cache
def json_schema(modality: str, max_string_chars: int | None = None) -> dict[str, Any]:
    """JSON schema of a combination's reply (shared: treat it as read-only); `max_string_chars`
    caps every string (for constrained decoding with small models, which otherwise may never
    close a string)."""
    schema = copy.deepcopy(output_model(modality).model_json_schema())
    if max_string_chars is not None:
        _cap_strings(schema, max_string_chars)
    return schema


def _cap_strings(node: Any, limit: int) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string":
            node["minLength"] = 1
            node["maxLength"] = limit
        for value in node.values():
            _cap_strings(value, limit)
    elif isinstance(node, list):
        for value in node:
            _cap_strings(value, limit)
