"""How a (query, document) pair becomes the text a yes/no reranker reads.

Both formats build the same conversation, the one Qwen3-VL-Reranker was trained on (spec
qwen3_vl_family.md §5): a system turn asking for "yes" or "no", then one user turn of parts
`"<Instruct>: " + instruction`, `"<Query>:"`, the query's video / image / text, `"\\n<Document>:"`,
the document's video / image / text (`"NULL"` for a side with none of them), then the generation
prompt. The score is P(yes) read at the prompt's last token.

- `qwen3-vl-reranker`: the conversation in Qwen3-VL's chat markup, written here (so a tiny model
  whose template differs reads what the released checkpoint reads). A video part is a bare
  `<|video_pad|>`: the processor expands it into per-group `<t seconds><|vision_start|>...<|vision_end|>`,
  the span transformers 4.57 (the publishers' pin) put in place of the template's marked pad.
- `mme5`: the same conversation through the checkpoint's own chat template, for any registry
  backbone (videos as the backbone's video markup, or the middle frame on image-only families).

A folder declares itself a reranker with `mme5_reranker.json` (written by `init-tiny --reranker`
and by reranker training); a checkpoint named like `Qwen3-VL-Reranker-*` needs none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..types import HUB_IMAGE_PLACEHOLDER, Item

SYSTEM_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
DEFAULT_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
QWEN3_VL_RERANKER = "qwen3-vl-reranker"
MME5 = "mme5"
FORMATS = (QWEN3_VL_RERANKER, MME5)
DECLARATION_FILE = "mme5_reranker.json"
ANSWER_TOKENS = ("yes", "no")
"""The score is sigmoid(h . (W[yes] - W[no])): P(yes) against P(no) at the last position."""

_QWEN_NAME = re.compile(r"qwen3-vl-reranker", re.IGNORECASE)
_SENTINEL = "\x00mme5-end-of-document\x00"
_QWEN_MARKUP = {"image": "<|vision_start|><|image_pad|><|vision_end|>", "video": "<|video_pad|>"}

Part = dict[str, str]


def write_declaration(folder: str | Path, backbone: Any, fmt: str | None = None) -> Path:
    """Mark `folder` as a yes/no reranker; Qwen3-VL folders default to the published format."""
    fmt = fmt or (QWEN3_VL_RERANKER if backbone.name == "qwen3_vl" else MME5)
    path = Path(folder) / DECLARATION_FILE
    path.write_text(json.dumps({"format": fmt, "answer_tokens": list(ANSWER_TOKENS)}, indent=2) + "\n")
    return path


def is_reranker(model_name_or_path: str | Path) -> bool:
    """A folder declared a reranker, or a checkpoint named like the published Qwen3-VL rerankers."""
    return (Path(model_name_or_path) / DECLARATION_FILE).is_file() or bool(_QWEN_NAME.search(str(model_name_or_path)))


def detect_format(model_name_or_path: str | Path, backbone: Any, fmt: str | None = None) -> str:
    """The format to score with: `fmt` if given, else the folder's declaration, else
    `qwen3-vl-reranker` for a Qwen3-VL checkpoint named like the published rerankers, else `mme5`."""
    if fmt is None:
        path = Path(model_name_or_path) / DECLARATION_FILE
        if path.is_file():
            fmt = json.loads(path.read_text()).get("format")
        elif backbone.name == "qwen3_vl" and _QWEN_NAME.search(str(model_name_or_path)):
            fmt = QWEN3_VL_RERANKER
        else:
            fmt = MME5
    if fmt not in FORMATS:
        raise ConfigError(f"unknown reranker format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == QWEN3_VL_RERANKER and backbone.name != "qwen3_vl":
        raise ConfigError(f"reranker format {fmt!r} is defined for qwen3_vl, not for this {backbone.name} model")
    return fmt


def side_parts(item: Item) -> list[Part]:
    """One side's content parts in the published order: video, image, text; `NULL` when empty.
    (The item's instruction is not content: the query's becomes the `<Instruct>` line. The hub
    datasets' `<|image_1|>\n` placeholder is dropped: the image part stands for it.)"""
    parts: list[Part] = []
    if item.has_video:
        parts.append({"type": "video"})
    if item.has_image:
        parts.append({"type": "image"})
    text = item.text or ""
    text = text[len(HUB_IMAGE_PLACEHOLDER) :] if text.startswith(HUB_IMAGE_PLACEHOLDER) else text
    if text:
        parts.append({"type": "text", "text": text})
    return parts or [{"type": "text", "text": "NULL"}]


def conversation(query: Item, document: Item, instruction: str | None) -> list[dict[str, Any]]:
    """The system and user turns of one pair (the chat messages the publishers build)."""
    content: list[Part] = [
        {"type": "text", "text": "<Instruct>: " + (instruction or DEFAULT_INSTRUCTION)},
        {"type": "text", "text": "<Query>:"},
        *side_parts(query),
        {"type": "text", "text": "\n<Document>:"},
        *side_parts(document),
    ]
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": content},
    ]


def render_parts(parts: list[Part]) -> str:
    """Content parts in Qwen3-VL's markup (texts as they are, media as their pad tokens)."""
    return "".join(p["text"] if p["type"] == "text" else _QWEN_MARKUP[p["type"]] for p in parts)


def render_qwen(messages: list[dict[str, Any]]) -> str:
    """Qwen3-VL's chat markup with the generation prompt, as its template renders these turns."""
    out = [f"<|im_start|>{m['role']}\n{render_parts(m['content'])}<|im_end|>\n" for m in messages]
    return "".join(out) + "<|im_start|>assistant\n"


def render_template(processor: Any, backbone: Any, messages: list[dict[str, Any]]) -> str:
    """The conversation through the checkpoint's chat template (videos as the backbone's markup)."""
    from .video import video_text

    video = {"type": "text", "text": video_text(backbone)}
    turns = [{**m, "content": [video if p["type"] == "video" else p for p in m["content"]]} for m in messages]
    return str(processor.apply_chat_template(turns, add_generation_prompt=True, tokenize=False))


def render(fmt: str, processor: Any, backbone: Any, messages: list[dict[str, Any]]) -> str:
    """The text of one pair in format `fmt`."""
    return render_qwen(messages) if fmt == QWEN3_VL_RERANKER else render_template(processor, backbone, messages)


def generation_tail(fmt: str, processor: Any, backbone: Any) -> str:
    """What follows the document's last part: the user turn's end and the generation prompt
    (`<|im_end|>\\n<|im_start|>assistant\\n` in Qwen's markup, 5 tokens with its tokenizer).
    Truncation never cuts these."""
    messages = conversation(Item(text="q"), Item(text=_SENTINEL), None)
    return render(fmt, processor, backbone, messages).split(_SENTINEL)[-1]
