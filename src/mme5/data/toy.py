"""A small generated image-text set (coloured shapes, captions in four languages) so the tiny
recipe trains offline with no downloaded data. It is written in the training schema and read
back through the ordinary JSONL path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..paths import cache_root
from ..prompts import FIND_IMAGE_FOR_CAPTION, REPRESENT_IMAGE, REPRESENT_IMAGE_FOR_CLASSIFICATION, hub_text
from ..types import MissingFileError
from .schema import schema_row

COLOURS = {
    "red": ((220, 40, 40), {"de": "rot", "fr": "rouge", "es": "rojo"}),
    "green": ((40, 170, 60), {"de": "grün", "fr": "vert", "es": "verde"}),
    "blue": ((40, 70, 220), {"de": "blau", "fr": "bleu", "es": "azul"}),
    "yellow": ((235, 210, 40), {"de": "gelb", "fr": "jaune", "es": "amarillo"}),
    "purple": ((140, 50, 170), {"de": "lila", "fr": "violet", "es": "morado"}),
    "black": ((20, 20, 20), {"de": "schwarz", "fr": "noir", "es": "negro"}),
}
SHAPES = {
    "circle": {"de": "Kreis", "fr": "cercle", "es": "círculo"},
    "square": {"de": "Quadrat", "fr": "carré", "es": "cuadrado"},
    "triangle": {"de": "Dreieck", "fr": "triangle", "es": "triángulo"},
    "cross": {"de": "Kreuz", "fr": "croix", "es": "cruz"},
}
I2T_QUERY = hub_text(REPRESENT_IMAGE_FOR_CLASSIFICATION, image=True)
IMAGE_TARGET = hub_text(REPRESENT_IMAGE, image=True)
VERSION = "2"  # 2: negative texts written as JSON lists (schema_row), not Python reprs


def caption(colour: str, shape: str, lang: str) -> str:
    if lang == "en":
        return f"a {colour} {shape}"
    return f"{SHAPES[shape][lang]} ({COLOURS[colour][1][lang]})"  # no grammatical agreement needed


def _draw(colour: str, shape: str, path: Path, size: int = 48) -> None:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    rgb, m = COLOURS[colour][0], size // 6
    box = (m, m, size - m, size - m)
    if shape == "circle":
        d.ellipse(box, fill=rgb)
    elif shape == "square":
        d.rectangle(box, fill=rgb)
    elif shape == "triangle":
        d.polygon([(size // 2, m), (size - m, size - m), (m, size - m)], fill=rgb)
    else:
        d.rectangle((size // 2 - m // 2, m, size // 2 + m // 2, size - m), fill=rgb)
        d.rectangle((m, size // 2 - m // 2, size - m, size // 2 + m // 2), fill=rgb)
    img.save(path)


def toy_rows() -> list[dict[str, str]]:
    """Rows in the training schema: text->image and image->text, each with a hard negative of the
    same shape in another colour (the confusable case)."""
    names = list(COLOURS)
    rows = []
    for shape in SHAPES:
        for ci, colour in enumerate(names):
            other = names[(ci + 1) % len(names)]
            image, neg_image = f"images/{colour}_{shape}.png", f"images/{other}_{shape}.png"
            for lang in ("en", "de", "fr", "es"):
                rows.append(
                    schema_row(
                        hub_text(FIND_IMAGE_FOR_CAPTION, caption(colour, shape, lang)),
                        positive=IMAGE_TARGET,
                        positive_image=image,
                        negatives=[IMAGE_TARGET],
                        negative_images=[neg_image],
                        modality="T2I",
                    )
                )
            rows.append(
                schema_row(
                    I2T_QUERY,
                    image,
                    caption(colour, shape, "en"),
                    negatives=[caption(other, shape, "en")],
                    modality="I2T",
                )
            )
    return rows


def ensure_toy_dataset(name: str = "shapes") -> Path:
    """Write the set once under $MME5_CACHE/toy-<name> (atomic: a folder rename) and return it."""
    if name != "shapes":
        raise MissingFileError(f"unknown toy dataset {name!r}; available: toy:shapes")
    out = cache_root() / f"toy-{name}-v{VERSION}"
    if (out / "train.jsonl").is_file():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    (tmp / "images").mkdir(parents=True, exist_ok=True)
    for colour in COLOURS:
        for shape in SHAPES:
            _draw(colour, shape, tmp / "images" / f"{colour}_{shape}.png")
    (tmp / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in toy_rows()), encoding="utf-8"
    )
    try:
        tmp.rename(out)
    except OSError:  # another process won the race: its copy is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out
