"""Qwen3-VL: 16 px patches, DeepStack visual features, interleaved M-RoPE."""

from __future__ import annotations

from . import _qwen
from .base import Backbone, TinySizes

QWEN_MEAN_STD = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
"""Qwen3-VL's normalisation (images and videos), not CLIP's."""

# Qwen3-VL's chat markup, as its checkpoints render a conversation: a system turn (a string or text
# parts), then each turn's parts in order, an image as `<|vision_start|><|image_pad|><|vision_end|>`
# and a video as `<|vision_start|><|video_pad|><|vision_end|>`; no default system prompt.
CHAT_TEMPLATE = (
    "{%- for m in messages %}"
    "{{- '<|im_start|>' + m['role'] + '\\n' }}"
    "{%- if m['content'] is string %}{{- m['content'] }}"
    "{%- else %}{%- for c in m['content'] %}"
    "{%- if c['type'] == 'image' or 'image' in c or 'image_url' in c %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif c['type'] == 'video' or 'video' in c %}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in c %}{{- c['text'] }}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

VIDEO_PREPROCESSOR_CONFIG = {
    "video_processor_type": "Qwen3VLVideoProcessor",
    "processor_class": "Qwen3VLProcessor",
    "size": {"shortest_edge": 128 * 32 * 32, "longest_edge": 768 * 32 * 32},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "resample": 3,
    **QWEN_MEAN_STD,
}
"""The `video_preprocessor_config.json` a tiny Qwen3-VL carries: Qwen3-VL's video processor
(patch 16, merge 2, temporal 2, bicubic, 0.5 mean/std; pixel bounds: the class defaults)."""


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
    return config, _qwen.image_processor(s, patch=16, **QWEN_MEAN_STD), {}


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
    tiny=_qwen.tiny_spec(
        _build_tiny, template=CHAT_TEMPLATE, files={"video_preprocessor_config.json": VIDEO_PREPROCESSOR_CONFIG}
    ),
    description="Qwen3-VL (Qwen3VLForConditionalGeneration), the Qwen3-VL-Embedding backbone",
)
