"""MMEB-V2 as Qwen3-VL-Embedding's evaluation code made its leaderboard numbers (spec
qwen3_vl_family.md §4), used when the model is loaded with the `qwen3-vl-embedding` profile.

- Image tasks read the `ziyjiang/MMEB_Test_Instruct` layout (`qry_inst`, `qry_text`,
  `qry_img_path`, `tgt_inst`, `tgt_text`, `tgt_img_path`; hub or local parquet / JSON lines):
  the query instruction is `qry_inst` without `<|image_1|>`, stripped (it goes to the system
  turn), the content is `qry_text` and the image. Candidates carry no instruction: the text
  (classification, QA, image -> text), the image plus its caption where the row has one
  (text -> image: caption stripped; image -> image: as stored), or the bare image.
- Video and visual-document tasks keep mme5's loaders (frames as saved, up to 64, which the
  profile encodes as one video; the `-page-fixed` visdoc releases; 1,602-row MomentSeeker); the
  query instruction becomes the per-task constant of Qwen's code (VLM2Vec's text with its final
  `:` made a `.`; video QA without the trailing `Question:`), and candidates lose theirs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ... import prompts as P
from ...data.schema import resolve_image, string_column
from ...types import InputError, Item
from ..tasks import TaskSpec
from .data import RankData

PROTOCOL = "qwen3-vl-embedding"
HUB_ID = "ziyjiang/MMEB_Test_Instruct"
INSTRUCT_COLUMNS = ("qry_inst", "qry_text", "qry_img_path", "tgt_inst", "tgt_text", "tgt_img_path")
PLACEHOLDER = "<|image_1|>"
VIDEO_QA = (
    "Given a video and a question, select the most accurate answer from the provided candidates. "
    "Return only the exact text of your chosen answer."
)
"""Qwen's `TASK_PROMPT` of the five video QA sets."""


def query_instruction(vlm2vec: str | None) -> str | None:
    """Qwen's query instruction for a video / visdoc task, from the VLM2Vec one mme5's loader set."""
    if vlm2vec is None:
        return None
    if vlm2vec == P.V2_VIDEO_QA:
        return VIDEO_QA
    text = vlm2vec.strip()
    return text[:-1] + "." if text.endswith(":") else text


def adapt(spec: TaskSpec, data: Any) -> Any:
    """A loaded video / visdoc task under Qwen's protocol: query instructions replaced by Qwen's,
    candidates without any. Other tasks are returned unchanged (image rows are read in the
    MMEB_Test_Instruct form by `instruct_row`)."""
    if spec.group not in ("video", "visdoc") or not isinstance(data, RankData):
        return data
    queries = set(data.query_ids.tolist())
    items = [
        replace(item, instruction=query_instruction(item.instruction))
        if i in queries
        else replace(item, instruction=None)
        for i, item in enumerate(data.items)
    ]
    return replace(data, items=items)


def instruct_row(
    where: str, row: dict[str, Any], image_root: Path | None, language: str | None, kind: str
) -> tuple[Item, list[Item]]:
    """One MMEB_Test_Instruct row -> (query, candidates) as Qwen's image parsers build them; `kind`
    is `t2i` (captions stripped), `i2i` (captions as stored, when the first is non-blank) or
    `text` (classification, QA, image -> text: candidates are their texts)."""
    missing = [c for c in INSTRUCT_COLUMNS if c not in row]
    if missing:
        raise InputError(
            f"{where}: missing column(s) {missing}; the {PROTOCOL} protocol reads the {HUB_ID} layout "
            f"({', '.join(INSTRUCT_COLUMNS)})"
        )
    texts, paths = _strings(row["tgt_text"], where, "tgt_text"), _strings(row["tgt_img_path"], where, "tgt_img_path")
    instruction = string_column(row["qry_inst"], where, "qry_inst").replace(PLACEHOLDER, "").strip()
    query = Item(
        text=string_column(row["qry_text"], where, "qry_text"),
        image=resolve_image(row["qry_img_path"], image_root, where),
        instruction=instruction or None,
        language=language,
    )
    if kind == "text":
        return query, [Item(text=t) for t in texts]
    if len(texts) < len(paths) and kind == "i2i":
        raise InputError(f"{where}: tgt_text has {len(texts)} entries for {len(paths)} images")
    with_caption = kind == "t2i" or bool(texts and texts[0].strip())
    cands = []
    for i, path in enumerate(paths):
        caption = texts[i] if i < len(texts) else ""
        text = (caption.strip() if kind == "t2i" else caption) if with_caption and caption.strip() else None
        cands.append(Item(text=text, image=resolve_image(path, image_root, where)))
    return query, cands


def row_kind(spec: TaskSpec) -> str:
    """Which of Qwen's image parsers a task uses: text -> image (`t2i`), image(+text) -> image
    (`i2i`), or text candidates (`text`)."""
    source, _, target = spec.modality.replace(" ", "").partition("->")
    if "I" not in target:
        return "text"
    return "t2i" if source == "T" else "i2i"


def _strings(value: Any, where: str, column: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) or v is None for v in value):
        raise InputError(f"{where}: {column} must be a list of strings, got {type(value).__name__}")
    return [v or "" for v in value]
