"""Llama-3.2-Vision (Mllama): the paper's backbone. Images enter through gated cross-attention."""

from __future__ import annotations

from .base import Backbone, RealTokenizerPreset, TinySizes, TinySpec

SPECIAL_TOKENS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|finetune_right_pad_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    "<|image|>",
)


HUB_TILE = 560
HUB_IMAGE_PROCESSOR = {  # meta-llama/Llama-3.2-11B-Vision's preprocessor_config.json (CLIP mean/std)
    "size": {"height": HUB_TILE, "width": HUB_TILE},
    "max_image_tiles": 4,
    "resample": 2,
    "do_resize": True,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "do_pad": True,
    "do_convert_rgb": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}


def _llama3_tokenizer():
    from ..tokenizer import llama3_tokenizer

    return llama3_tokenizer()


def _model_class() -> type:
    from transformers import MllamaForConditionalGeneration

    return MllamaForConditionalGeneration


def _processor_class() -> type:
    from transformers import MllamaProcessor

    return MllamaProcessor


def _build_tiny(tokenizer, s: TinySizes):
    from transformers import MllamaConfig
    from transformers.models.mllama import MllamaImageProcessorPil

    vocab = len(tokenizer)
    config = MllamaConfig(
        vision_config={
            "hidden_size": s.vision_hidden,
            "num_hidden_layers": s.vision_layers,
            "num_global_layers": 1,
            "attention_heads": 4,
            "intermediate_size": s.vision_hidden * 2,
            "image_size": s.image_size,
            "patch_size": 14,
            "max_num_tiles": s.max_tiles,
            "intermediate_layers_indices": [0],
            "vision_output_dim": s.vision_hidden * 2,
        },
        text_config={
            "vocab_size": vocab + 8,
            "hidden_size": s.text_hidden,
            "num_hidden_layers": s.text_layers,
            "num_attention_heads": s.heads,
            "num_key_value_heads": s.kv_heads,
            "intermediate_size": s.intermediate,
            "cross_attention_layers": [s.text_layers - 1],
            "max_position_embeddings": 1024,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("<|image|>"),
    )
    image_processor = MllamaImageProcessorPil(
        size={"height": s.image_size, "width": s.image_size}, max_image_tiles=s.max_tiles
    )
    return config, image_processor, {}


def _open_gates(model, s: TinySizes) -> None:
    """Mllama initialises its cross-attention gates to 0, so a random model ignores images."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if "cross_attn_attn_gate" in name or "cross_attn_mlp_gate" in name:
                param.fill_(s.cross_attention_gate)


BACKBONE = Backbone(
    name="mllama",
    model_types=("mllama",),
    model_class=_model_class,
    processor_class=_processor_class,
    image_text="<|image|><|begin_of_text|>",
    no_image_text="<|begin_of_text|>",
    nested_images=True,
    padding_side="right",
    lora_targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "out_proj"),
    tiny=TinySpec(
        special_tokens=SPECIAL_TOKENS,
        bos="<|begin_of_text|>",
        eos="<|end_of_text|>",
        pad="<|finetune_right_pad_id|>",
        build=_build_tiny,
        post_init=_open_gates,
        chat=(
            "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "<|image|>",
        ),
        real_tokenizers={
            "llama3": RealTokenizerPreset(
                tokenizer=_llama3_tokenizer,
                image_processor=HUB_IMAGE_PROCESSOR,
                sizes={"image_size": HUB_TILE, "max_tiles": HUB_IMAGE_PROCESSOR["max_image_tiles"]},
                description="Meta's Llama 3 tokenizer, from the llama-models package of the dev extra; "
                "<|image|> = 128256; Llama-3.2-11B-Vision's image processor, 560 px tiles, up to 4",
            )
        },
    ),
    min_image_side=2,
    split_mixed_batches=True,
    processor_truncates=True,
    description="Llama-3.2-Vision (MllamaForConditionalGeneration), the mmE5 paper's backbone",
)
