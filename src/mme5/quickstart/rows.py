"""The quickstart's training pairs as training data: the training schema's JSONL + image files.

Row = one (image, language) training pair: `qry` is the name joined with the query instruction,
`pos_text` the hub-format image side (`<|image_1|>\\n` + the image instruction), `pos_image_path`
the emoji written as a PNG beside the file, through the training schema's `schema_row`. `mme5 train` reads it like any local JSONL source, and
the strings are exactly what evaluation encodes for the same name and image (`mme5.prompts`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.emoji import EmojiSet
from ..data.schema import schema_row
from ..prompts import join_instruction
from ..types import HUB_IMAGE_PLACEHOLDER
from .config import SplitConfig
from .splits import Splits

TRAIN_FILE = "train.jsonl"
IMAGE_FOLDER = "images"


def write_training_rows(data: EmojiSet, splits: Splits, cfg: SplitConfig, folder: Path) -> Path:
    """Write `folder/train.jsonl` and the training images (`folder/images/<id>.png`); -> the JSONL path."""
    images = folder / IMAGE_FOLDER
    images.mkdir(parents=True, exist_ok=True)
    image_side = HUB_IMAGE_PLACEHOLDER + join_instruction(cfg.image_instruction, None)
    lines = []
    for index, pairs in sorted(splits.train.items()):
        record = data.records[index]
        name = f"{IMAGE_FOLDER}/{record.id}.png"
        _write_image(record.image, folder / name)
        for pair in pairs:
            row = schema_row(
                join_instruction(cfg.query_instruction, pair.text),
                positive=image_side,
                positive_image=name,
                modality="T2I",
            )
            lines.append(json.dumps(row, ensure_ascii=False))
    path = folder / TRAIN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)  # a complete file or none: a resumed run never reads half of one
    return path


def _write_image(image, path: Path) -> None:
    """PIL image (pack) -> lossless PNG; a file path (emoji_cldr folder) is copied as it is."""
    if path.is_file():
        return
    if isinstance(image, (str, Path)):
        import shutil

        shutil.copyfile(image, path)
        return
    image.convert("RGB").save(path, format="PNG")
