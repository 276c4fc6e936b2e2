"""`--to vllm`: what `vllm serve --runner pooling` needs to return mme5's vectors for a Qwen-VL
family checkpoint: the merged weights (already in the folder), last-token pooling with L2
normalisation, and a chat template that renders a request into mme5's exact input string.

vLLM dropped Llama-3.2-Vision (Mllama) after v0.10.2, so only the Qwen-VL families are exported.
The request carries the instruction as the system message and the text / image as the user
message; the template joins them the mmE5 way (`"{instruction} {text}\\n"`, image tokens first)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..types import InputError
from .chat_template import embedding_chat_template
from .profile import EmbeddingProfile

VLLM_BACKBONES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
TEMPLATE_FILE = "mme5_embedding.jinja"
POOLER_FILE = "vllm_pooler_config.json"
SERVE_FILE = "vllm_serve.sh"
REQUEST_FILE = "vllm_request_example.json"
POOLER_CONFIG = {"pooling_type": "LAST", "use_activation": True}
"""vLLM >= 0.12: `use_activation` is the embedding normalisation (older releases call it `normalize`)."""
LEGACY_POOLER_CONFIG = {"pooling_type": "LAST", "normalize": True}


def request_messages(instruction: str | None, text: str | None, image_url: str | None) -> list[dict[str, Any]]:
    """The `messages` of a `/v1/embeddings` request for one mme5 item (OpenAI chat format)."""
    messages: list[dict[str, Any]] = []
    if instruction:
        messages.append({"role": "system", "content": instruction})
    content: list[dict[str, Any]] = []
    if image_url:
        content.append({"type": "image_url", "image_url": {"url": image_url}})
    if text:
        content.append({"type": "text", "text": text})
    messages.append({"role": "user", "content": content})
    return messages


def serve_command(model_dir: str, max_model_len: int) -> str:
    """The `vllm serve` line for an exported folder."""
    return (
        f"vllm serve {model_dir} --runner pooling --convert embed --max-model-len {max_model_len} "
        f"--chat-template {model_dir}/{TEMPLATE_FILE} --pooler-config '{json.dumps(POOLER_CONFIG)}'"
    )


def check_vllm_backbone(backbone: str) -> None:
    """InputError unless vLLM's pooling runner serves this family."""
    if backbone not in VLLM_BACKBONES:
        raise InputError(
            f"--to vllm supports {', '.join(VLLM_BACKBONES)} (vLLM's pooling runner); this model is "
            f"{backbone}. vLLM dropped Mllama after v0.10.2: use --to hf or "
            "--to sentence-transformers, or `mme5 serve`"
        )


QWEN3_PROFILE = "qwen3-vl-embedding"


def export_vllm_qwen3(out: Path, max_model_len: int) -> list[str]:
    """A Qwen3-VL-Embedding export: the publishers' pooling-runner command (spec qwen3_vl_family.md
    §6, vLLM >= 0.14), which serves the checkpoint with its own chat template and last-token,
    normalised pooling; a request puts the instruction in the system turn (default
    "Represent the user's input.", ending in punctuation) and the video, image, text parts in the user turn."""
    command = f"vllm serve {{model}} --runner pooling --max-model-len {max_model_len}"
    script = (
        "#!/bin/sh\n# Serve this Qwen3-VL-Embedding export with vLLM's pooling runner (vLLM >= 0.14, GPU),\n"
        "# as its publishers do: the checkpoint's own chat template, last-token normalised pooling.\n"
        f'cd "$(dirname "$0")"\n{command.format(model=".")}\n'
    )
    (out / SERVE_FILE).write_text(script, encoding="utf-8")
    from ..model.qwen3_vl_embedding import DEFAULT_INSTRUCTION

    example = {
        "model": ".",
        "encoding_format": "float",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Find an image that matches the given caption."}]},
            {"role": "user", "content": [{"type": "text", "text": "a photo of a cat"}]},
        ],
    }
    (out / REQUEST_FILE).write_text(json.dumps(example, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [
        f"vLLM: {command.format(model=str(out))}",
        f"vLLM: POST /v1/embeddings with `messages` as in {REQUEST_FILE}: system = the instruction "
        f"(default {DEFAULT_INSTRUCTION!r}), user = video, image, text parts",
    ]


def export_vllm(out_dir: str | Path, profile: EmbeddingProfile) -> list[str]:
    """Write the template, pooler config, serve script and an example request; returns notes."""
    check_vllm_backbone(profile.backbone)
    out = Path(out_dir)
    if profile.formatting_profile == QWEN3_PROFILE:
        return export_vllm_qwen3(out, max(profile.max_length, 1024))
    if profile.formatting_profile != "mme5":
        raise InputError(
            f"--to vllm cannot reproduce the {profile.formatting_profile!r} profile (vLLM computes M-RoPE "
            "positions itself); export it with --to hf or --to sentence-transformers"
        )
    (out / TEMPLATE_FILE).write_text(embedding_chat_template(profile), encoding="utf-8")
    (out / POOLER_FILE).write_text(json.dumps(POOLER_CONFIG, indent=2) + "\n", encoding="utf-8")
    max_model_len = max(profile.max_length * 4, 1024)  # image tokens come on top of the text budget
    script = (
        "#!/bin/sh\n# Serve this mme5 export with vLLM's pooling runner (GPU). For vLLM < 0.12 replace\n"
        f"# --pooler-config with --override-pooler-config '{json.dumps(LEGACY_POOLER_CONFIG)}'.\n"
        f'cd "$(dirname "$0")"\n{serve_command(".", max_model_len)}\n'
    )
    (out / SERVE_FILE).write_text(script, encoding="utf-8")
    example = {
        "model": ".",
        "encoding_format": "float",
        "messages": request_messages(profile.prompts.get("t2i_query"), "a photo of a cat", None),
    }
    (out / REQUEST_FILE).write_text(json.dumps(example, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [
        f"vLLM: {serve_command(str(out), max_model_len)}",
        f"vLLM: POST /v1/embeddings with `messages` as in {REQUEST_FILE} (system = instruction, user = image + text)",
    ]
