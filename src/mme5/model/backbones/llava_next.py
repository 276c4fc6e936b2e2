"""LLaVA-NeXT (LLaVA-1.6): the backbone of VLM2Vec's and MMRet's best models; any-resolution tiles."""

from __future__ import annotations

from .base import Backbone, TinySizes, TinySpec


def _model_class() -> type:
    from transformers import LlavaNextForConditionalGeneration

    return LlavaNextForConditionalGeneration


def _processor_class() -> type:
    from transformers import LlavaNextProcessor

    return LlavaNextProcessor


def _build_tiny(tokenizer, s: TinySizes):
    from transformers import LlavaNextConfig
    from transformers.models.llava_next import LlavaNextImageProcessorPil

    config = LlavaNextConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": s.vision_hidden,
            "intermediate_size": s.vision_hidden * 2,
            "num_hidden_layers": s.vision_layers,
            "num_attention_heads": 4,
            "image_size": s.image_size,
            "patch_size": 14,
            "projection_dim": s.vision_hidden,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer) + 8,
            "hidden_size": s.text_hidden,
            "num_hidden_layers": s.text_layers,
            "num_attention_heads": s.heads,
            "num_key_value_heads": s.kv_heads,
            "intermediate_size": s.intermediate,
            "max_position_embeddings": 2048,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=[
            [s.image_size, s.image_size],
            [s.image_size, 2 * s.image_size],
            [2 * s.image_size, s.image_size],
        ],
        vision_feature_layer=-1,
        image_seq_length=(s.image_size // 14) ** 2,
    )
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": s.image_size},
        crop_size={"height": s.image_size, "width": s.image_size},
        image_grid_pinpoints=config.image_grid_pinpoints,
    )
    return (
        config,
        image_processor,
        {"patch_size": 14, "vision_feature_select_strategy": "default", "num_additional_image_tokens": 1},
    )


BACKBONE = Backbone(
    name="llava_next",
    model_types=("llava_next",),
    model_class=_model_class,
    processor_class=_processor_class,
    image_text="<image>\n",
    no_image_text="",
    nested_images=False,
    padding_side="left",
    lora_targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    tiny=TinySpec(
        special_tokens=("<s>", "</s>", "<unk>", "<pad>", "<image>"),
        bos="<s>",
        eos="</s>",
        pad="<pad>",
        build=_build_tiny,
    ),
    description="LLaVA-NeXT / LLaVA-1.6 (LlavaNextForConditionalGeneration)",
)
