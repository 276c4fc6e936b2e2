"""One formatter per backbone, used identically by training, evaluation and serving."""

from __future__ import annotations

from ..prompts import join_instruction
from ..types import HUB_IMAGE_PLACEHOLDER, Item
from .backbones import Backbone
from .profiles import get_profile

FORMAT_VERSION = "1"  # bump when the produced strings change: it is part of every cache key


def format_text(item: Item, backbone: Backbone, profile: str = "mme5") -> str:
    """The exact string the processor receives for `item` on `backbone` (under a named
    formatting profile, mme5.model.profiles; the default is described here).

    Text that starts with the hub placeholder `<|image_1|>\\n` is rewritten as the original
    collators do (image present -> the backbone's image tokens, absent -> its text-only prefix);
    text without it passes through unchanged, gaining image tokens only if the item has an image.
    """
    fmt = get_profile(profile).format
    if fmt is not None:
        return fmt(item, backbone)
    text = item.text or ""
    had_placeholder = text.startswith(HUB_IMAGE_PLACEHOLDER)
    if had_placeholder:
        text = text[len(HUB_IMAGE_PLACEHOLDER) :]
    body = join_instruction(item.instruction, text)
    if item.has_video:  # native video tokens, or the image tokens of the middle-frame fallback
        return (backbone.video_text if backbone.video_text is not None else backbone.image_text) + body
    if item.has_image:
        return backbone.image_text + body
    if had_placeholder:
        return backbone.no_image_text + body
    return body
