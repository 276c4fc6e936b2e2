"""Offline byte-level BPE tokenizers for tiny backbones: every script encodes, nothing downloads."""
from __future__ import annotations

from importlib import resources
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast


def default_corpus() -> list[str]:
    """A few hundred multilingual strings shipped with the package (instructions + CLDR-like names)."""
    text = resources.files("mme5.model").joinpath("tiny_data/corpus.txt").read_text("utf-8")
    return [line for line in text.splitlines() if line.strip()]


def train_bpe_tokenizer(
    special_tokens: Iterable[str],
    *,
    bos: str | None,
    eos: str,
    pad: str,
    vocab_size: int = 600,
    corpus: Iterable[str] | None = None,
) -> PreTrainedTokenizerFast:
    """Train a deterministic byte-level BPE; each special token becomes one id."""
    specials = list(dict.fromkeys(special_tokens))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = list(corpus) if corpus is not None else default_corpus()
    tok.train_from_iterator(lines, trainer=trainer)
    kwargs = {"eos_token": eos, "pad_token": pad}
    if bos is not None:
        kwargs["bos_token"] = bos
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
