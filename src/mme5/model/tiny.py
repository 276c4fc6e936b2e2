"""Build tiny random-weight backbones as normal Hugging Face folders (the embedded default)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

from .backbones import TinySizes, get_backbone
from .tokenizer import train_bpe_tokenizer


BUILDER_VERSION = 2
"""Bumped when what `build_tiny` writes changes (2: chat template), so cached builds are redone."""


def build_tiny(
    backbone: str,
    out_dir: str | Path,
    *,
    seed: int = 0,
    sizes: TinySizes = TinySizes(),
    corpus: Iterable[str] | None = None,
) -> Path:
    """Write config, seeded random weights, an offline BPE tokenizer and the processor to `out_dir`.

    The folder loads with the same code as a real checkpoint (`load_embedder(out_dir)`).
    """
    import torch

    spec = get_backbone(backbone)
    tokenizer = train_bpe_tokenizer(
        spec.tiny.special_tokens, bos=spec.tiny.bos, eos=spec.tiny.eos, pad=spec.tiny.pad,
        vocab_size=sizes.vocab_size, corpus=corpus,
    )
    tokenizer.padding_side = spec.padding_side
    config, image_processor, processor_kwargs = spec.tiny.build(tokenizer, sizes)
    processor = spec.processor_class()(image_processor=image_processor, tokenizer=tokenizer,
                                       chat_template=spec.tiny.chat_template(), **processor_kwargs)

    torch.manual_seed(seed)
    model = spec.model_class()(config)
    if spec.tiny.post_init is not None:
        spec.tiny.post_init(model, sizes)
    model.eval()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "mme5_tiny.json").write_text(
        json.dumps({"backbone": spec.name, "seed": seed, "sizes": asdict(sizes), "builder": BUILDER_VERSION}, indent=2)
    )
    return out
