"""Build the one-pass "deep thinking" request of a sample from the versioned templates.

Templates are data (`templates/<version>/*.txt`, `string.Template` placeholders, no logic);
this module fills in the modality's sides, the language, the attached images, the texts to
write and a JSON skeleton generated from the reply schema, so prompt and schema never drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from ..types import MissingFileError
from .languages import XLMR_LANGUAGES
from .plan import MODALITIES, TASKS, Modality
from .schema import CRITERIA, ImageDescription, image_roles, json_schema, sample_model

ROLE_LABELS = {
    "query_image": "the QUERY image",
    "positive_image": "the POSITIVE target image",
    "negative_image": "the HARD-NEGATIVE target image",
}


@dataclass(frozen=True)
class ImagePart:
    """An image attached to a request, with its role in the sample."""

    path: Path
    role: str


@dataclass(frozen=True)
class Prompt:
    """A backend-neutral request: system text, user parts (text and images in order), and the
    JSON schema the reply must follow."""

    system: str
    parts: tuple[str | ImagePart, ...]
    schema: dict[str, Any]
    schema_name: str
    modality: str
    version: str

    @property
    def images(self) -> list[ImagePart]:
        return [p for p in self.parts if isinstance(p, ImagePart)]


@cache
def load_template(version: str, name: str) -> Template:
    """Read `templates/<version>/<name>.txt`; a missing version names the available ones."""
    root = resources.files("mme5.synthesis").joinpath("templates")
    path = root.joinpath(version).joinpath(f"{name}.txt")
    if not path.is_file():
        versions = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
        raise MissingFileError(f"prompt template {version}/{name}.txt not found; versions: {versions}")
    return Template(path.read_text(encoding="utf-8"))


def _side(image: bool, text: bool, target: bool) -> str:
    if image and text:
        return "an image with a text" if not target else "images, each with a text"
    if image:
        return "an image" if not target else "images"
    return "a text" if not target else "texts"


@cache
def _texts(m: Modality) -> str:
    fields = sample_model(m.name).model_fields
    return "\n".join(f"- {name}: {info.description}" for name, info in fields.items())


@cache
def _skeleton(m: Modality) -> str:
    described = {role: {k: "..." for k in ImageDescription.model_fields} for role in image_roles(m)}
    sample = {name: "..." for name in sample_model(m.name).model_fields}
    reply = {
        "descriptions": described,
        "draft": sample,
        "self_evaluation": {c: {"score": 4, "reason": "..."} for c in CRITERIA},
        "improvements": ["..."],
        "revised": sample,
    }
    return json.dumps(reply, ensure_ascii=False)


def build_prompt(
    task: str,
    modality: str,
    language: str,
    images: dict[str, Path],
    *,
    version: str = "v1",
    max_string_chars: int | None = None,
) -> Prompt:
    """The request for one sample. `images` maps roles (query_image, positive_image,
    negative_image) to files; it must hold exactly the roles the modality needs."""
    m = MODALITIES[modality]
    roles = image_roles(m)
    if set(images) != set(roles):
        raise ValueError(f"{modality} needs images {list(roles)}, got {sorted(images)}")
    listing = "\n".join(f"- Image {i + 1}: {ROLE_LABELS[r]}" for i, r in enumerate(roles)) or "- none"
    body = load_template(version, TASKS[task].template).substitute(
        modality=modality,
        query_side=_side(m.query_image, m.query_text, target=False),
        target_side=_side(m.target_image, m.target_text, target=True),
        language_name=XLMR_LANGUAGES[language],
        language_code=language,
        images=listing,
        texts=_texts(m),
        skeleton=_skeleton(m),
    )
    parts: list[str | ImagePart] = []
    for i, role in enumerate(roles):
        parts += [f"Image {i + 1} ({ROLE_LABELS[role]}):", ImagePart(Path(images[role]), role)]
    parts.append(body)
    return Prompt(
        system=load_template(version, "system").template,
        parts=tuple(parts),
        schema=json_schema(modality, max_string_chars),
        schema_name=f"mme5_sample_{modality}",
        modality=modality,
        version=version,
    )
