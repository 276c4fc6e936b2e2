"""Shared pieces of the Qwen-VL families (2, 2.5, 3): tokens, image-only processors."""

from __future__ import annotations

from typing import Any

from .base import TinySpec

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
IMAGE_TEXT = "<|vision_start|><|image_pad|><|vision_end|>"
VIDEO_TEXT = "<|vision_start|><|video_pad|><|vision_end|>"
CHAT = ("<|im_start|>{role}\n{content}<|im_end|>\n", "<|im_start|>assistant\n", IMAGE_TEXT)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def token_ids(tokenizer) -> dict[str, Any]:  # Any: spread into the config's keyword arguments
    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    }
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def text_config(tokenizer, s, **extra) -> dict:
    return {
        "vocab_size": len(tokenizer) + 8,
        "hidden_size": s.text_hidden,
        "num_hidden_layers": s.text_layers,
        "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads,
        "intermediate_size": s.intermediate,
        "max_position_embeddings": 1024,
        "bos_token_id": tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        **extra,
    }


def image_processor(s, patch: int, **extra: Any):
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    unit = patch * 2  # one merged token covers a 2x2 block of patches
    side = max(s.image_size, unit)
    return Qwen2VLImageProcessorPil(
        min_pixels=unit * unit,
        max_pixels=side * side * 4,
        patch_size=patch,
        temporal_patch_size=2,
        merge_size=2,
        **extra,
    )


def tiny_spec(build: Any, **extra: Any) -> TinySpec:
    """The tiny-build settings every Qwen-VL family shares (tokens, chat template); `build` makes the
    family's config and image processor; `extra`: further TinySpec fields (a family's own template)."""
    return TinySpec(
        special_tokens=SPECIAL_TOKENS,
        bos=None,
        eos="<|endoftext|>",
        pad="<|endoftext|>",
        build=build,
        chat=CHAT,
        **extra,
    )
