"""Idefics3 / SmolVLM: a SigLIP tower with pixel shuffle; small models for modest hardware."""

from __future__ import annotations

from .base import Backbone, TinySizes, TinySpec

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<pad>",
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
)


def _model_class() -> type:
    from transformers import Idefics3ForConditionalGeneration

    return Idefics3ForConditionalGeneration


def _processor_class() -> type:
    from transformers import Idefics3Processor

    return Idefics3Processor


def _build_tiny(tokenizer, s: TinySizes):
    from transformers import Idefics3Config
    from transformers.models.idefics3 import Idefics3ImageProcessorPil

    config = Idefics3Config(
        vision_config={
            "hidden_size": s.vision_hidden,
            "intermediate_size": s.vision_hidden * 2,
            "num_hidden_layers": s.vision_layers,
            "num_attention_heads": 4,
            "image_size": s.image_size,
            "patch_size": 14,
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
            "bos_token_id": tokenizer.eos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": s.image_size * 2},
        max_image_size={"longest_edge": s.image_size},
        do_image_splitting=True,
    )
    return config, image_processor, {"image_seq_len": (s.image_size // 14) ** 2 // 4}


BACKBONE = Backbone(
    name="idefics3",
    model_types=("idefics3", "smolvlm"),
    model_class=_model_class,
    processor_class=_processor_class,
    image_text="<image>\n",
    no_image_text="",
    nested_images=True,
    padding_side="left",
    lora_targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    tiny=TinySpec(
        special_tokens=SPECIAL_TOKENS,
        bos=None,
        eos="<end_of_utterance>",
        pad="<pad>",
        build=_build_tiny,
        chat=("<|im_start|>{role}: {content}<end_of_utterance>\n", "<|im_start|>assistant:", "<image>"),
    ),
    description="Idefics3 / SmolVLM (Idefics3ForConditionalGeneration), small backbones",
)
