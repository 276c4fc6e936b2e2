"""Qwen3-VL: 16 px patches, DeepStack visual features, interleaved M-RoPE."""

from __future__ import annotations

from . import _qwen
from .base import Backbone, TinySizes


def _model_class() -> type:
    from transformers import Qwen3VLForConditionalGeneration

    return Qwen3VLForConditionalGeneration


def _processor_class() -> type:
    from .qwen_processors import Qwen3VLProcessorImageOnly

    return Qwen3VLProcessorImageOnly


def _build_tiny(tokenizer, s: TinySizes):
    from transformers import Qwen3VLConfig

    head_dim = s.text_hidden // s.heads
    half = head_dim // 2
    config = Qwen3VLConfig(
        text_config=_qwen.text_config(
            tokenizer,
            s,
            head_dim=head_dim,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_interleaved": True,
                "mrope_section": [half - 2 * (half // 4), half // 4, half // 4],
            },
        ),
        vision_config={
            "depth": s.vision_layers,
            "hidden_size": s.vision_hidden,
            "intermediate_size": s.vision_hidden * 2,
            "out_hidden_size": s.text_hidden,
            "num_heads": 4,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        **_qwen.token_ids(tokenizer),
    )
    return config, _qwen.image_processor(s, patch=16), {}


BACKBONE = Backbone(
    name="qwen3_vl",
    model_types=("qwen3_vl",),
    model_class=_model_class,
    processor_class=_processor_class,
    image_text=_qwen.IMAGE_TEXT + "\n",
    no_image_text="",
    nested_images=False,
    padding_side="left",
    # the processor frames every temporal group: `<t seconds><|vision_start|>pads<|vision_end|>`
    video_text="<|video_pad|>\n",
    lora_targets=_qwen.LORA_TARGETS,
    tiny=_qwen.tiny_spec(_build_tiny),
    description="Qwen3-VL (Qwen3VLForConditionalGeneration), the Qwen3-VL-Embedding backbone",
)
