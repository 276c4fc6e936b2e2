"""The few records that flow through every stage: synthesis writes them, datasets yield them,
evaluation encodes them and the server accepts them."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from PIL import Image

ImageLike = Union[str, Path, bytes, Image.Image]

# The hub datasets (MMEB, mmE5-synthetic) store this Phi-3.5-V placeholder at the start of a text
# whose side has an image; each backbone's formatter rewrites it.
HUB_IMAGE_PLACEHOLDER = "<|image_1|>\n"


class InputError(ValueError):
    """An input item cannot be used; the message names the item and what is wrong."""


@dataclass(frozen=True)
class Item:
    """One side of a pair: an optional instruction, text, image and the text's language.

    `text` may already carry the hub convention (`<|image_1|>\\n...`); with an `instruction` the
    mmE5 convention applies: `"{instruction} {text}\\n"`.
    """

    text: str | None = None
    image: ImageLike | None = None
    instruction: str | None = None
    language: str | None = None

    @property
    def has_image(self) -> bool:
        return self.image is not None and self.image != ""


@dataclass(frozen=True)
class ContrastiveExample:
    """A training example: a query, its positive and hard negatives, and where it came from."""

    query: Item
    positive: Item
    hard_negatives: tuple[Item, ...] = field(default_factory=tuple)
    source: str = ""


def load_image(image: ImageLike, where: str = "") -> Image.Image:
    """Open a path, bytes or PIL image as RGB; errors name `where` (item index, row) and the path."""
    prefix = f"{where}: " if where else ""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    try:
        if isinstance(image, (bytes, bytearray)):
            img = Image.open(io.BytesIO(image))
        else:
            path = Path(image)
            if not path.is_file():
                raise InputError(f"{prefix}image file not found: {path}")
            img = Image.open(path)
        img.load()
    except InputError:
        raise
    except Exception as exc:  # PIL raises many types for corrupt data
        name = "<bytes>" if isinstance(image, (bytes, bytearray)) else str(image)
        raise InputError(f"{prefix}cannot read image {name}: {exc}") from exc
    return img.convert("RGB")
