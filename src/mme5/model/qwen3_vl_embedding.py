"""The `qwen3-vl-embedding` profile: Qwen3-VL-Embedding's own input protocol (spec
qwen3_vl_family.md §2-3), so its checkpoints give the vectors they were published with.

- the instruction goes into a system turn, `strip()`ped, with a `.` appended when its last
  character is not punctuation (Unicode category P*); none -> `Represent the user's input.`;
- the user turn holds the item's video, then its image, then its text (raw: no whitespace
  changes), each its own part; an item with none of them is the text `NULL`;
- the checkpoint's chat template renders it with the generation prompt (`<|im_start|>assistant\\n`,
  where the vector is read);
- media are resized before the processor (mme5.model.qwen_vision), which runs with
  `do_resize=False`, right padding, truncation at 8,192 tokens;
- a video's `<|vision_start|><|video_pad|><|vision_end|>` is replaced as a whole by its per-pair
  `<t seconds><|vision_start|>...<|vision_end|>` groups, as transformers 4.57 (the publishers' pin)
  did; transformers 5.x expands only the pad and would leave the outer markers doubled.
Pooling (the post-norm state of the last real token, L2-normalised) is the Embedder's own.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ..media import frame_files
from ..media_policy import DEFAULT_POLICY, MediaPolicy
from ..types import HUB_IMAGE_PLACEHOLDER, InputError, Item
from . import qwen_vision

if TYPE_CHECKING:
    import torch

NAME = "qwen3-vl-embedding"
DEFAULT_INSTRUCTION = "Represent the user's input."
MAX_LENGTH = 8192
VIDEO_SPAN = "<|vision_start|><|video_pad|><|vision_end|>"
VIDEO_PAD = "<|video_pad|>"


def system_instruction(instruction: str | None) -> str:
    """The system turn: the instruction stripped and ending in punctuation, or the default."""
    text = (instruction or "").strip()
    if not text:
        return DEFAULT_INSTRUCTION
    return text if unicodedata.category(text[-1]).startswith("P") else text + "."


def user_text(item: Item) -> str | None:
    """The item's text as the model gets it: raw, only mme5's hub image placeholder removed."""
    text = item.text
    if text is not None and text.startswith(HUB_IMAGE_PLACEHOLDER):
        text = text[len(HUB_IMAGE_PLACEHOLDER) :]
    return text if text else None


def messages(item: Item) -> list[dict[str, Any]]:
    """The conversation Qwen3-VL-Embedding builds for one item (media parts carry no data here)."""
    content: list[dict[str, Any]] = []
    if item.has_video:
        content.append({"type": "video"})
    if item.has_image or item.pdf is not None:
        content.append({"type": "image"})
    if (text := user_text(item)) is not None:
        content.append({"type": "text", "text": text})
    if not content:
        content.append({"type": "text", "text": "NULL"})
    return [
        {"role": "system", "content": [{"type": "text", "text": system_instruction(item.instruction)}]},
        {"role": "user", "content": content},
    ]


def chat_text(processor: Any, item: Item) -> str:
    """The checkpoint's chat template over `messages(item)`, ending in the generation prompt."""
    return processor.apply_chat_template(messages(item), add_generation_prompt=True, tokenize=False)


def processor_text(processor: Any, item: Item) -> str:
    """`chat_text` with the video span reduced to its pad, so the processor's pad expansion replaces
    the whole span (transformers 4.57's behaviour) under transformers 5.x too."""
    return chat_text(processor, item).replace(VIDEO_SPAN, VIDEO_PAD)


def item_image(item: Item, where: str, policy: MediaPolicy = DEFAULT_POLICY) -> Image.Image | None:
    """The item's image (or rendered PDF page) resized as the protocol does (4,096-1,843,200 px)."""
    if item.pdf is not None and not item.has_image:
        from ..media import page_item

        item = page_item(item, where, policy=policy)
    if not item.has_image:
        return None
    return qwen_vision.resize_image(
        item.image,  # type: ignore[arg-type]
        min_pixels=qwen_vision.MIN_PIXELS,
        max_pixels=qwen_vision.MAX_PIXELS,
        where=where,
        policy=policy,
    )


def item_video(item: Item, where: str, policy: MediaPolicy = DEFAULT_POLICY) -> qwen_vision.Video | None:
    """The item's video: a frame list or frame folder as frames (64 at most, total_pixels
    7,864,320), a file at fps 1 with at most 64 frames."""
    video = item.video
    if not item.has_video or video is None:
        return None
    if isinstance(video, (list, tuple)):
        return qwen_vision.frame_list_video(list(video), where=where, policy=policy)
    if isinstance(video, (str, Path)) and Path(video).is_dir():
        return qwen_vision.frame_list_video(list(frame_files(video, where)), where=where, policy=policy)
    return qwen_vision.video_file(video, where=where, policy=policy)


def media_positions(item: Item, frames: int, size: tuple[int, int]) -> int:
    """Visual positions of an item's media of header size `size` (the planner's cost, mme5.model.planning)."""
    return qwen_vision.positions(*size, frames if item.has_video else 0)


def processor_inputs(
    processor: Any,
    items: Sequence[Item],
    where: Sequence[str],
    max_length: int = MAX_LENGTH,
    policy: MediaPolicy = DEFAULT_POLICY,
) -> dict[str, torch.Tensor]:
    """One batch through the checkpoint's processor, as Qwen3VLEmbedder's `_preprocess_inputs`:
    chat texts, resized images and videos with their metadata, `do_resize=False`, right padding,
    truncation at `max_length`."""
    texts = [processor_text(processor, item) for item in items]
    images = [img for i, item in enumerate(items) if (img := item_image(item, where[i], policy)) is not None]
    videos = [v for i, item in enumerate(items) if (v := item_video(item, where[i], policy)) is not None]
    try:
        return run_processor(
            processor, texts, images, videos, padding_side="right", truncation=True, max_length=max_length
        )
    except ValueError as exc:  # transformers: truncation cut through an image's or a video's tokens
        if "Mismatch in" not in str(exc):
            raise
        raise InputError(
            f"{', '.join(where[:3])}{' ...' if len(where) > 3 else ''}: the image or video tokens do not fit in "
            f"max_length={max_length}; raise --max-length (the protocol's is {MAX_LENGTH})"
        ) from None


def run_processor(
    processor: Any, texts: list[str], images: list[Image.Image], videos: list[qwen_vision.Video], **kwargs: Any
) -> dict[str, torch.Tensor]:
    """Texts and media already resized as qwen-vl-utils does (`do_resize=False`), videos with their
    metadata (fps and frame indices: the timestamps) and no resampling; `kwargs`: padding and
    truncation. Shared by the embedding profile and the Qwen3-VL-Reranker format."""
    kwargs.update(text=texts, padding=True, do_resize=False, return_tensors="pt")
    if images:
        kwargs["images"] = images
    if videos:
        kwargs["videos"] = [[Image.fromarray(f) for f in v.frames] for v in videos]
        kwargs["video_metadata"] = [
            {"fps": v.fps, "frames_indices": list(v.indices), "total_num_frames": len(v.indices)} for v in videos
        ]
        kwargs["do_sample_frames"] = False
    inputs = dict(processor(**kwargs))
    inputs.pop("token_type_ids", None)
    return inputs


# ---- recognising a Qwen3-VL-Embedding checkpoint ----------------------------------------------
NAME_MARK = "qwen3-vl-embedding"
ARCHITECTURES = ("Qwen3VLForEmbedding",)
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json", "tokenizer_config.json")
ST_FILES = ("config_sentence_transformers.json", "modules.json")


def is_checkpoint(source: str | Path) -> bool:
    """Whether `source` (a folder or hub id) is a Qwen3-VL-Embedding checkpoint: by its name, its
    config (`architectures`, `_name_or_path`), a sentence-transformers config naming it or its
    default instruction, or a chat template carrying that instruction."""
    if NAME_MARK in str(source).lower():
        return True
    folder = Path(source)
    if not folder.is_dir():
        return False
    config = _read_json(folder / "config.json")
    if any(a in ARCHITECTURES for a in config.get("architectures") or []):
        return True
    if NAME_MARK in str(config.get("_name_or_path", "")).lower():
        return True
    for name in ST_FILES:
        text = _read_text(folder / name)
        if NAME_MARK in text.lower() or DEFAULT_INSTRUCTION in text:
            return True
    return any(DEFAULT_INSTRUCTION in _read_text(folder / name) for name in TEMPLATE_FILES)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read_text(path) or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
