"""The chat template that renders a request into mme5's exact input string: the instruction as the
system message, the image(s) and text as the user message. vLLM (`--to vllm`) and sentence-transformers'
own Transformer module (`--to sentence-transformers`, native path) both apply it, so a tool that speaks
chat messages gets `mme5.model.formatting.format_text`'s string without any mme5 code."""

from __future__ import annotations

import json

from .profile import EmbeddingProfile


def _jinja_string(text: str) -> str:
    """A Jinja string literal for `text` (JSON escapes are valid Jinja escapes)."""
    return json.dumps(text, ensure_ascii=True)


def embedding_chat_template(profile: EmbeddingProfile) -> str:
    """A chat template whose rendering of (system = instruction, user = [image], text) is exactly
    `mme5.model.formatting.format_text` for the profile's backbone. The image tokens come first
    whatever the order of the user content (sentence-transformers >= 6.1 orders a `{"text", "image"}`
    input's content by the dict's key order)."""
    return (
        "{%- set ns = namespace(instruction='', text='', image=false) -%}"
        "{%- for m in messages -%}"
        "{%- if m['content'] is string -%}{%- set parts = [{'type': 'text', 'text': m['content']}] -%}"
        "{%- else -%}{%- set parts = m['content'] -%}{%- endif -%}"
        "{%- for c in parts -%}"
        "{%- if c['type'] in ('image', 'image_url', 'image_pil') -%}{%- set ns.image = true -%}"
        "{%- elif c['type'] == 'text' and m['role'] == 'system' -%}{%- set ns.instruction = ns.instruction + c['text'] -%}"
        "{%- elif c['type'] == 'text' -%}{%- set ns.text = ns.text + c['text'] -%}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- endfor -%}"
        "{%- if ns.image -%}{{ " + _jinja_string(profile.image_text) + " }}{%- endif -%}"
        "{%- if ns.instruction and ns.text -%}{{ ns.instruction + ' ' + ns.text + '\\n' }}"
        "{%- elif ns.instruction -%}{{ ns.instruction + '\\n' }}"
        "{%- else -%}{{ ns.text }}{%- endif -%}"
    )
