"""Generated evaluation data: a small MMEB-format folder (jsonl, parquet and save_to_disk subsets
with heavily overlapping candidates) and an XTD-layout folder with the quirks of the real files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

CLS_INSTRUCTION = "<|image_1|>\nRepresent the given image for classification\n"
T2I_INSTRUCTION = "Find me an everyday image that matches the given caption: "
IMAGE_TARGET = "<|image_1|>\nRepresent the given image.\n"
LABELS = ["cat", "dog", "apple", "car"]


def write_images(folder: Path, n: int, seed: int = 0) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (20 + 3 * i, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        names.append(f"imgs/{i}.png")
    return names


def mmeb_rows(images: list[str]) -> dict[str, list[dict]]:
    """Three subsets: I->T classification over 4 labels, T->I retrieval, I+T->I+T; candidate 0 = positive."""
    n = len(images)
    cls = [{"qry_text": CLS_INSTRUCTION, "qry_img_path": images[i],
            "tgt_text": [LABELS[i % 4]] + [lab for lab in LABELS if lab != LABELS[i % 4]], "tgt_img_path": [""] * 4}
           for i in range(n)]
    t2i = [{"qry_text": f"{T2I_INSTRUCTION}picture number {i}\n", "qry_img_path": "",
            "tgt_text": [IMAGE_TARGET] * 3, "tgt_img_path": [images[i], images[(i + 1) % n], images[(i + 2) % n]]}
           for i in range(n)]
    it2it = [{"qry_text": f"<|image_1|>\nSelect the portion: \"thing {i % 3}\"\n", "qry_img_path": images[i],
              "tgt_text": [IMAGE_TARGET] * 2,  # the same targets as MSCOCO_t2i: cross-task overlap
              "tgt_img_path": [images[(i + 3) % n], images[(i + 4) % n]]}
             for i in range(n)]
    return {"ImageNet-1K": cls, "MSCOCO_t2i": t2i, "RefCOCO": it2it}


@pytest.fixture(scope="session")
def mmeb_dir(tmp_path_factory) -> Path:
    """ImageNet-1K as JSONL, MSCOCO_t2i as parquet in a hub-style folder, RefCOCO via save_to_disk."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    root = tmp_path_factory.mktemp("mmeb")
    rows = mmeb_rows(write_images(root / "imgs", 6))
    with (root / "ImageNet-1K.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows["ImageNet-1K"])
    (root / "MSCOCO_t2i").mkdir()
    pq.write_table(pa.Table.from_pylist(rows["MSCOCO_t2i"]), root / "MSCOCO_t2i" / "test-00000-of-00001.parquet")
    Dataset.from_list(rows["RefCOCO"]).save_to_disk(str(root / "RefCOCO"))
    return root


def write_xtd_layout(root: Path, captions: dict[str, list[str]], image_names: list[str], *,
                     crlf: bool = True, trailing_newline: bool = False) -> Path:
    """The original adobe-research layout with its real quirks (CRLF, no final newline, `jp`)."""
    from mme5.evaluation.catalog import XTD_FILES

    (root / "XTD10").mkdir(parents=True, exist_ok=True)
    (root / "XTD10" / "test_image_names.txt").write_text("\n".join(image_names) + "\n", encoding="utf-8")
    for lang, lines in captions.items():
        folder, code = XTD_FILES[lang]
        (root / folder).mkdir(exist_ok=True)
        text = ("\r\n" if crlf else "\n").join(lines) + ("\n" if trailing_newline else "")
        (root / folder / f"test_1kcaptions_{code}.txt").write_bytes(text.encode("utf-8"))
    return root
