"""Offline tokenizers for tiny backbones, nothing downloaded: a byte-level BPE trained in-process (every
script encodes), or Meta's real Llama 3 tokenizer converted from the `llama-models` package."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from ..types import InputError


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


# ---- Meta's Llama 3 tokenizer (the `llama-models` package), converted offline -------------------

LLAMA3_BOS, LLAMA3_EOS, LLAMA3_PAD, LLAMA3_IMAGE = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|finetune_right_pad_id|>",
    "<|image|>",
)
LLAMA3_NUM_SPECIAL = 256
_LLAMA3_NAMED = (
    LLAMA3_BOS,
    LLAMA3_EOS,
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    LLAMA3_PAD,
    "<|step_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
)


def llama3_special_tokens() -> tuple[str, ...]:
    """The 256 special tokens after the 128,000 BPE ranks, in id order (128000 = `<|begin_of_text|>`).

    Numbered as the hub's Llama-3.2-Vision tokenizer does: llama-models' own list without
    `<|image|>`, which the hub checkpoint keeps after them at 128256 (llama-models' inference code
    moved it to 128011); the reserved tokens fill the rest."""
    reserved = tuple(f"<|reserved_special_token_{i}|>" for i in range(2, 2 + LLAMA3_NUM_SPECIAL - len(_LLAMA3_NAMED)))
    return _LLAMA3_NAMED + reserved


def llama3_files() -> tuple[Path, str]:
    """(tokenizer.model, split pattern) from the installed `llama-models`; a clear error without it."""
    try:
        from llama_models.llama3 import tokenizer as meta
    except ImportError as exc:
        raise InputError(
            "the llama3 tokenizer needs Meta's `llama-models` package (it ships llama3/tokenizer.model): "
            f"pip install 'mme5[dev]' ({exc})"
        ) from None
    model = Path(meta.__file__).with_name("tokenizer.model")
    if not model.is_file():
        raise InputError(f"llama-models is installed but {model} is missing; reinstall llama-models")
    return model, meta.Tokenizer.pat_str


@lru_cache(maxsize=1)
def _llama3_json() -> str:
    """The converted tokenizer as tokenizer.json text; converting 128k ranks takes seconds, so once
    per process (callers get their own copy, tokenizers being mutable)."""
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter

    model, pattern = llama3_files()
    tok = TikTokenConverter(vocab_file=str(model), pattern=pattern).converted()
    tok.add_special_tokens(
        [AddedToken(t, normalized=False, special=True) for t in (*llama3_special_tokens(), LLAMA3_IMAGE)]
    )
    bos_id = tok.token_to_id(LLAMA3_BOS)
    tok.post_processor = processors.Sequence(
        [  # the hub's: byte-level offsets, then the BOS template
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{LLAMA3_BOS} $A:0",
                pair=f"{LLAMA3_BOS} $A:0 {LLAMA3_BOS}:1 $B:1",
                special_tokens=[(LLAMA3_BOS, bos_id)],
            ),
        ]
    )
    return tok.to_str()


def llama3_tokenizer() -> PreTrainedTokenizerFast:
    """Meta's Llama 3 tokenizer as Llama-3.2-Vision's fast tokenizer: the real 128,000-rank BPE
    (converted by transformers' TikTokenConverter), 256 special tokens, `<|image|>` = 128256,
    BOS prepended, pad `<|finetune_right_pad_id|>` (128004). Offline; needs `llama-models`."""
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_llama3_json()),
        bos_token=LLAMA3_BOS,
        eos_token=LLAMA3_EOS,
        pad_token=LLAMA3_PAD,
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=131072,
    )
