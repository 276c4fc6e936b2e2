"""Named input-formatting profiles: how an item's text, image and video reach the model.

`mme5` (the default) is mme5's own convention (formatting.py: the backbone's image markup, the
mmE5 `"{instruction} {text}\\n"` join, M-RoPE positions as the processor marks them).

`vlm2vec-v2` is the convention VLM2Vec-V2.0 was trained and evaluated with on Qwen2-VL (spec
mmeb_v2.md §6): `prompt = instruction [+ " " + text]`, then `"<|image_pad|> " + prompt` or
`"<|video_pad|> " + prompt`; no chat template, no `<|vision_start|>/<|vision_end|>`, no final
newline. Without `<|vision_start|>` the old `get_rope_index` found no images, so every token,
visual ones included, got plain sequential 1-D positions on all three M-RoPE axes; transformers 5
marks visual tokens itself (`mm_token_type_ids`), so this profile passes those 1-D positions
explicitly. Use it to score `VLM2Vec/VLM2Vec-V2.0` weights as published.

`qwen3-vl-embedding` is Qwen3-VL-Embedding's protocol (mme5.model.qwen3_vl_embedding: chat template
with a system-turn instruction, media resized before the processor, right padding, 8,192 tokens);
`Embedder.from_pretrained` selects it by itself for those checkpoints (`detect_profile`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..types import HUB_IMAGE_PLACEHOLDER, Item

DEFAULT_PROFILE = "mme5"


def vlm2vec_v2_text(item: Item, backbone: Any = None) -> str:
    """VLM2Vec's `process_input_text` for qwen2_vl: the hub placeholder is removed, the visual
    token (one, expanded by the processor) leads, separated by a space."""
    text = item.text or ""
    if text.startswith(HUB_IMAGE_PLACEHOLDER):
        text = text[len(HUB_IMAGE_PLACEHOLDER) :]
    prompt = f"{item.instruction} {text}" if item.instruction and text else (item.instruction or text)
    if item.has_video:
        return "<|video_pad|> " + prompt
    if item.has_image:
        return "<|image_pad|> " + prompt
    return prompt


@dataclass(frozen=True)
class Profile:
    """A formatting profile: its text assembly (None = mme5's), whether positions are 1-D, and
    the backbones it is defined for (empty = all)."""

    name: str
    description: str
    format: Callable[[Item, Any], str] | None = None
    sequential_positions: bool = False
    backbones: tuple[str, ...] = ()
    chat: Callable[[Any, Item], str] | None = None
    """(processor, item) -> the text a chat-template profile renders; its batches go through `prepare`."""
    prepare: Callable[[Any, Sequence[Item], Sequence[str], int, Any], dict[str, Any]] | None = None
    """(processor, items, where, max_length, media policy) -> the processor's tensors for one batch,
    where the profile owns media handling and the processor call (resizing, padding side, truncation)."""
    positions: Callable[[Item, int, tuple[int, int]], int] | None = None
    """(item, frames, header (width, height)) -> visual positions, where the profile resizes media itself."""
    max_length: int = 256
    """Tokens per item when the user gives no --max-length."""
    bare_candidates: bool = False
    """Training positives / hard negatives lose their instruction (the protocol encodes candidates
    under the default one, as its evaluation does)."""


def _qwen3_vl_embedding() -> Profile:
    from . import qwen3_vl_embedding as q

    return Profile(
        q.NAME,
        "Qwen3-VL-Embedding's protocol: instruction in the system turn (default \"Represent the user's input.\"), "
        "video, image, text parts in the chat template, media resized as qwen-vl-utils, right padding, 8,192 tokens",
        backbones=("qwen3_vl",),
        chat=q.chat_text,
        prepare=q.processor_inputs,
        positions=q.media_positions,
        max_length=q.MAX_LENGTH,
        bare_candidates=True,
    )


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(DEFAULT_PROFILE, "mme5's own input convention (default)"),
        Profile(
            "vlm2vec-v2",
            "VLM2Vec-V2.0 on Qwen2-VL: '<|image_pad|> ' / '<|video_pad|> ' + prompt, no vision_start, "
            "no chat template, 1-D positions on all M-RoPE axes",
            format=vlm2vec_v2_text,
            sequential_positions=True,
            backbones=("qwen2_vl",),
        ),
        _qwen3_vl_embedding(),
    )
}


def get_profile(name: str | None) -> Profile:
    """The registered profile `name` (None = the default); a ConfigError lists the known ones."""
    key = name or DEFAULT_PROFILE
    if key not in PROFILES:
        raise ConfigError(f"unknown formatting profile {key!r}; known: {', '.join(PROFILES)}")
    return PROFILES[key]


PROFILE_MARKER = "mme5_profile.json"
"""Written beside weights mme5 saves (training checkpoints, merges, exports): `{"profile": NAME}`, so
a trained or exported model is loaded with the profile it was made with."""


def write_profile_marker(folder: str | Path, name: str) -> None:
    """Record profile `name` in `folder` (nothing for the default: absent means mme5)."""
    path = Path(folder) / PROFILE_MARKER
    if name != DEFAULT_PROFILE:
        path.write_text(json.dumps({"profile": name}) + "\n")
    elif path.is_file():
        path.unlink()


def detect_profile(model_name_or_path: str | Path, backbone: str, adapter: str | Path | None = None) -> str:
    """The profile a checkpoint calls for: the one mme5 recorded beside it (adapter first), else
    `qwen3-vl-embedding` for Qwen3-VL-Embedding checkpoints on the qwen3_vl backbone, else the default."""
    from . import qwen3_vl_embedding

    for folder in (adapter, model_name_or_path):
        marker = Path(folder) / PROFILE_MARKER if folder is not None else None
        if marker is not None and marker.is_file():
            try:
                return str(json.loads(marker.read_text())["profile"])
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f'{marker} is not {{"profile": NAME}}; remove it or fix it') from None
    if backbone == "qwen3_vl" and qwen3_vl_embedding.is_checkpoint(model_name_or_path):
        return qwen3_vl_embedding.NAME
    return DEFAULT_PROFILE


def resolve_profile(
    model_name_or_path: str | Path,
    backbone: str,
    profile: str | None = None,
    max_length: int | None = None,
    adapter: str | Path | None = None,
) -> tuple[Profile, int]:
    """(profile, max_length) a model loads with: `profile` or the detected one, checked against the
    backbone; `max_length` or the profile's."""
    chosen = check_profile(profile or detect_profile(model_name_or_path, backbone, adapter), backbone)
    return chosen, max_length or chosen.max_length


def profiled_fingerprint(fingerprint: str, profile: str) -> str:
    """A model fingerprint qualified by its formatting profile (the default adds nothing)."""
    return fingerprint if profile == DEFAULT_PROFILE else f"{fingerprint}-{profile}"


def check_profile(name: str | None, backbone: str) -> Profile:
    """The profile `name`, refused with a ConfigError when it is not defined for `backbone`."""
    profile = get_profile(name)
    if profile.backbones and backbone not in profile.backbones:
        raise ConfigError(
            f"formatting profile {profile.name!r} is defined for {', '.join(profile.backbones)}, "
            f"not for this {backbone} model"
        )
    return profile


def set_profile(embedder: Any, name: str | None) -> Any:
    """A new Embedder over the same weights under profile `name` (`embedder` is left as it was)."""
    return embedder.with_profile(name)


def sequential_positions(inputs: dict[str, Any]) -> dict[str, Any]:
    """Add 1-D `position_ids` (0.. over the attended tokens, the same on all M-RoPE axes) and drop
    the token-type marks, as VLM2Vec-V2's transformers computed them without `<|vision_start|>`."""
    mask = inputs["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
    out = dict(inputs)
    out.pop("mm_token_type_ids", None)
    out["position_ids"] = positions
    return out


def profile_inputs(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Processor outputs adjusted for profile `name` (unchanged for the default)."""
    return sequential_positions(inputs) if get_profile(name).sequential_positions else inputs
