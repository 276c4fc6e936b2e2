"""What each backbone family declares; one small module per family fills it in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

PaddingSide = Literal["left", "right"]


@dataclass(frozen=True)
class RealTokenizerPreset:
    """A tiny model that reads like the released checkpoint: its real tokenizer (built offline) and
    the hub's image-processor settings; only the weights stay tiny and random."""

    tokenizer: Callable[[], Any]
    image_processor: dict[str, Any]
    """The hub checkpoint's preprocessor_config values (transformers' defaults differ)."""
    sizes: dict[str, Any] = field(default_factory=dict)
    """`TinySizes` fields those settings imply (e.g. the vision tower's tile size)."""
    description: str = ""


@dataclass(frozen=True)
class TinySpec:
    """How to build a tiny random-weight instance of a family (tests, demo, quickstart)."""

    special_tokens: tuple[str, ...]
    bos: str | None
    eos: str
    pad: str
    # (tokenizer, sizes) -> (model config, image processor, extra processor kwargs)
    build: Callable[[Any, TinySizes], tuple[Any, Any, dict[str, Any]]]
    # optional fix-up of the random model, e.g. opening Mllama's zero-initialised image gates
    post_init: Callable[[Any, TinySizes], None] | None = None
    # the family's chat markup: one turn ("{role}", "{content}"), the assistant prompt, an image
    chat: tuple[str, str, str] = ("{role}: {content}</s>", "assistant:", "<image>\n")
    # `init-tiny --tokenizer NAME`: real tokenizers this family can be built with (besides the BPE)
    real_tokenizers: dict[str, RealTokenizerPreset] = field(default_factory=dict)
    # the released checkpoint's own chat template (Jinja), where the generic one above renders less
    template: str | None = None
    # further JSON files the released checkpoint carries (name -> contents), e.g. a video processor
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def chat_template(self) -> str:
        """A Jinja chat template in the family's markup, so tiny models take the chat path too."""
        if self.template is not None:
            return self.template
        turn, assistant, image = self.chat
        content = (
            "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}" + image + "{% else %}{{ c['text'] }}{% endif %}"
            "{% endfor %}{% endif %}"
        )
        body = turn.replace("{role}", "{{ m['role'] }}").replace("{content}", content)
        return (
            "{% for m in messages %}" + body + "{% endfor %}{% if add_generation_prompt %}" + assistant + "{% endif %}"
        )


@dataclass(frozen=True)
class TinySizes:
    """Sizes of a tiny backbone; defaults are the test size (~200k parameters)."""

    text_hidden: int = 64
    text_layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 128
    vision_hidden: int = 32
    vision_layers: int = 2
    image_size: int = 28
    vocab_size: int = 600
    max_tiles: int = 4
    cross_attention_gate: float = 0.5


@dataclass(frozen=True)
class Backbone:
    """A vision-language family: classes, input conventions and training defaults."""

    name: str
    model_types: tuple[str, ...]
    model_class: Callable[[], Any]
    processor_class: Callable[[], Any]
    image_text: str
    """Replaces the hub placeholder `<|image_1|>\\n` when the item has an image."""
    no_image_text: str
    """Replaces the hub placeholder when the item has no image (a stray placeholder)."""
    nested_images: bool
    """Processor wants images nested per sample (`[[img], []]`) instead of a flat list."""
    padding_side: PaddingSide
    lora_targets: tuple[str, ...]
    tiny: TinySpec
    min_image_side: int = 1
    split_mixed_batches: bool = False
    """Run text-only and image rows of a batch as separate forwards (see `Prepared`)."""
    processor_truncates: bool = False
    """The processor cuts each row to `max_length` ids, special tokens included, as the original
    mmE5 collator does. Only where an image is one placeholder token (which a cut cannot split);
    elsewhere the Embedder cuts the text before the processor expands image placeholders."""
    video_text: str | None = None
    """The markup a video item's text starts with, for families that take videos natively (their
    processor expands it); None: image-only, a video is encoded as its middle frame (model.video)."""
    processor_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
