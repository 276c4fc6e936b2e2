"""Qwen2.5-VL: Qwen2-VL conventions with a windowed-attention vision tower."""

from __future__ import annotations

from . import _qwen
from .base import Backbone, TinySizes
from .qwen2_vl import BACKBONE as QWEN2_VL


def _model_class() -> type:
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration


def _processor_class() -> type:
    from .qwen_processors import Qwen2_5_VLProcessorImageOnly

    return Qwen2_5_VLProcessorImageOnly


def _build_tiny(tokenizer, s: TinySizes):
    from transformers import Qwen2_5_VLConfig

    qwen2_config, image_processor, _ = QWEN2_VL.tiny.build(tokenizer, s)
    config = Qwen2_5_VLConfig(
        text_config=qwen2_config.text_config.to_dict(),
        vision_config={
            "depth": s.vision_layers,
            "hidden_size": s.vision_hidden,
            "intermediate_size": s.vision_hidden * 2,
            "out_hidden_size": s.text_hidden,
            "num_heads": 4,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [s.vision_layers - 1],
        },
        **_qwen.token_ids(tokenizer),
    )
    return config, image_processor, {}


BACKBONE = Backbone(
    name="qwen2_5_vl",
    model_types=("qwen2_5_vl",),
    model_class=_model_class,
    processor_class=_processor_class,
    image_text=QWEN2_VL.image_text,
    no_image_text="",
    nested_images=False,
    padding_side="left",
    video_text=_qwen.VIDEO_TEXT + "\n",
    lora_targets=_qwen.LORA_TARGETS,
    tiny=_qwen.tiny_spec(_build_tiny),
    description="Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration)",
)
