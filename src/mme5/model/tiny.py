"""Build tiny random-weight backbones as normal Hugging Face folders (the embedded default)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ..prompts import default_prompts, write_prompts
from ..types import InputError
from .backbones import Backbone, TinySizes, get_backbone
from .backbones.base import RealTokenizerPreset

BPE = "bpe"
"""The default tokenizer of a tiny build: a byte-level BPE trained in-process (~600 ids)."""


BUILDER_VERSION = 4
"""Bumped when what `build_tiny` writes changes (2: chat template, 3: mme5_prompts.json; 4: Qwen3-VL's
own template, video processor file and 0.5 mean/std), so cached builds are redone."""


def build_tiny(
    backbone: str,
    out_dir: str | Path,
    *,
    seed: int = 0,
    sizes: TinySizes | None = None,
    corpus: Iterable[str] | None = None,
    tokenizer: str = BPE,
    reranker: bool = False,
) -> Path:
    """Write config, seeded random weights, an offline tokenizer and the processor to `out_dir`.

    `reranker`: the tokenizer gets `yes` / `no` as single tokens and the folder a reranker
    declaration (`mme5.model.rerank_format.write_declaration`), so it loads as a `Reranker`.

    `tokenizer`: "bpe" (trained in-process) or a real tokenizer the family offers
    (`tokenizer_choices`), which also brings the hub checkpoint's image-processor settings.
    The folder loads with the same code as a real checkpoint (`load_embedder(out_dir)`).
    """
    import torch

    spec = get_backbone(backbone)
    sizes = sizes or TinySizes()
    preset = real_tokenizer_preset(spec, tokenizer)
    if preset is None:
        from .tokenizer import default_corpus, train_bpe_tokenizer

        if reranker:  # frequent enough that BPE makes `yes` and `no` single tokens, as real vocabularies have
            from .rerank_format import ANSWER_TOKENS

            corpus = [*(default_corpus() if corpus is None else corpus), *ANSWER_TOKENS * 64]

        tok: Any = train_bpe_tokenizer(
            spec.tiny.special_tokens,
            bos=spec.tiny.bos,
            eos=spec.tiny.eos,
            pad=spec.tiny.pad,
            vocab_size=sizes.vocab_size,
            corpus=corpus,
        )
    else:
        tok = preset.tokenizer()
        sizes = replace(sizes, **preset.sizes, vocab_size=len(tok))
    tok.padding_side = spec.padding_side
    config, image_processor, processor_kwargs = spec.tiny.build(tok, sizes)
    if preset is not None:  # the family's image-processor class, with the hub's values
        image_processor = type(image_processor)(**preset.image_processor)
    processor = spec.processor_class()(
        image_processor=image_processor, tokenizer=tok, chat_template=spec.tiny.chat_template(), **processor_kwargs
    )

    torch.manual_seed(seed)
    model = spec.model_class()(config)
    if spec.tiny.post_init is not None:
        spec.tiny.post_init(model, sizes)
    model.eval()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    write_prompts(out, default_prompts())
    for name, contents in spec.tiny.files.items():
        (out / name).write_text(json.dumps(contents, indent=2))
    (out / "mme5_tiny.json").write_text(
        json.dumps(
            {
                "backbone": spec.name,
                "seed": seed,
                "sizes": asdict(sizes),
                "tokenizer": tokenizer,
                "reranker": reranker,
                "builder": BUILDER_VERSION,
            },
            indent=2,
        )
    )
    if reranker:
        from .rerank_format import write_declaration

        write_declaration(out, spec)
    return out


def tokenizer_choices(spec: Backbone) -> list[str]:
    """Tokenizers a tiny build of this family can have: the trained BPE, then its real ones."""
    return [BPE, *sorted(spec.tiny.real_tokenizers)]


def real_tokenizer_preset(spec: Backbone, tokenizer: str) -> RealTokenizerPreset | None:
    """None for the trained BPE; the family's preset for a real tokenizer; else a clear error."""
    if tokenizer == BPE:
        return None
    if tokenizer not in spec.tiny.real_tokenizers:
        raise InputError(
            f"backbone {spec.name!r} has no tokenizer {tokenizer!r}; "
            f"choose one of: {', '.join(tokenizer_choices(spec))}"
        )
    return spec.tiny.real_tokenizers[tokenizer]
