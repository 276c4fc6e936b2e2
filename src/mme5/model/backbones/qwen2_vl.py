"""Qwen2-VL: images become merged patch tokens inside the text stream (flat image list)."""

from __future__ import annotations

from . import _qwen
from .base import Backbone, TinySizes


def _model_class() -> type:
    from transformers import Qwen2VLForConditionalGeneration

    return Qwen2VLForConditionalGeneration


def _processor_class() -> type:
    from .qwen_processors import Qwen2VLProcessorImageOnly

    return Qwen2VLProcessorImageOnly


def _build_tiny(tokenizer, s: TinySizes):
    from transformers import Qwen2VLConfig

    head_dim = s.text_hidden // s.heads
    a = head_dim // 2 // 4
    config = Qwen2VLConfig(
        text_config=_qwen.text_config(
            tokenizer,
            s,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [a, (head_dim // 2 - a) // 2, head_dim // 2 - a - (head_dim // 2 - a) // 2],
            },
        ),
        vision_config={
            "depth": s.vision_layers,
            "embed_dim": s.vision_hidden,
            "hidden_size": s.text_hidden,
            "num_heads": 4,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        **_qwen.token_ids(tokenizer),
    )
    return config, _qwen.image_processor(s, patch=14), {}


BACKBONE = Backbone(
    name="qwen2_vl",
    model_types=("qwen2_vl",),
    model_class=_model_class,
    processor_class=_processor_class,
    image_text=_qwen.IMAGE_TEXT + "\n",
    no_image_text="",
    nested_images=False,
    padding_side="left",
    video_text=_qwen.VIDEO_TEXT + "\n",
    lora_targets=_qwen.LORA_TARGETS,
    tiny=_qwen.tiny_spec(_build_tiny),
    description="Qwen2-VL (Qwen2VLForConditionalGeneration), VLM2Vec-V2's backbone",
)
