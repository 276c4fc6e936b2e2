"""Flags shared by many commands, declared once: the model flags and the `--set key=value` overrides.

Every command that loads a model calls `add_model_args` + `embedder_from_args`; every command that
takes a config calls `add_config_args` + `config_from_args`, so flags read the same everywhere.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..model.embedder import Embedder
    from ..model.reranker import Reranker

T = TypeVar("T")

DTYPES = "auto | float32 | bfloat16 | float16"
TINY_DEFAULT = (
    "the embedded tiny Mllama with RANDOM weights, built once under $MME5_CACHE: fine for trying the "
    "command, meaningless vectors"
)
INDEX_MODEL_DEFAULT = "the model the index's index.json records, with its adapter, dtype and max length"
AUTO_DTYPE = "bfloat16 on CUDA, float32 on CPU"

# one paragraph for every command's `--help` epilog that takes a config
SET_EPILOG = """\
config overrides:
  --set KEY=VALUE changes one field of the config (repeatable, applied in order after the YAML file).
  Nested fields use dots; values are read as YAML, so numbers, booleans, lists and null work, e.g.
    {examples}
  Quote a value to keep it a string: --set 'KEY="2024"'. An unknown key is refused with the valid ones."""


def add_model_args(
    parser: argparse.ArgumentParser,
    *,
    batch_size_default: int | None = 16,
    batch_size_help: str = "items per model forward",
    model_default: str = TINY_DEFAULT,
    batches: bool = True,
    auto_dtype: str = AUTO_DTYPE,
    default_device: str = "cuda if available, else cpu",
) -> None:
    """Declare --model --adapter --profile --dtype --device --max-length [--batch-size] on `parser`.

    `batch_size_default=None` means the command takes its batch size from elsewhere (its config)
    unless the flag is given; `model_default` says what runs without --model; `batches=False`: the
    command runs no batches (no --batch-size). `auto_dtype` says what `--dtype auto` means for this
    command, `default_device` where it runs without --device.
    """
    g = parser.add_argument_group("model")
    g.add_argument("--model", metavar="DIR_OR_HUB_ID", help=f"model folder or hub id (default: {model_default})")
    g.add_argument("--adapter", metavar="DIR", help="LoRA adapter folder (from `mme5 train`), merged at load time")
    g.add_argument(
        "--profile",
        metavar="NAME",
        help="input formatting profile: mme5, vlm2vec-v2 or qwen3-vl-embedding (default: the one the checkpoint "
        "calls for: qwen3-vl-embedding for Qwen3-VL-Embedding checkpoints, the profile mme5 recorded beside a "
        "model it trained or exported, else mme5)",
    )
    g.add_argument("--dtype", default="auto", help=f"weights dtype: {DTYPES} (default auto: {auto_dtype})")
    g.add_argument("--device", help=f"cpu | cuda | cuda:N (default: {default_device})")
    g.add_argument(
        "--max-length",
        type=_positive,
        default=None,
        metavar="N",
        help="tokens per item; longer inputs are truncated (default: the profile's: 256 as mmE5, "
        "8192 for qwen3-vl-embedding)",
    )
    if not batches:
        return
    shown = "%(default)s" if batch_size_default is not None else "from the config"
    g.add_argument(
        "--batch-size",
        type=_positive,
        default=batch_size_default,
        metavar="N",
        help=f"{batch_size_help} (default: {shown})",
    )
    add_max_batch_tokens(g)


def add_max_batch_tokens(group: argparse._ActionsContainer) -> None:
    """--max-batch-tokens: a padded-position budget per forward, beside --batch-size."""
    group.add_argument(
        "--max-batch-tokens",
        type=_positive,
        default=None,
        metavar="N",
        help="padded token positions per forward (rows x longest row, visual tokens included): batches are "
        "cut below it, an item longer than N runs alone; bounds memory on mixed video/image/text input "
        "(default: no budget, --batch-size alone)",
    )


def embedder_from_args(args: argparse.Namespace, *, device: str | None = None) -> Embedder:
    """Load the Embedder the model flags name (`device` overrides --device, e.g. per torchrun rank)."""
    from ..model.embedder import load_embedder

    return load_embedder(
        args.model,
        adapter=args.adapter,
        dtype=args.dtype,
        device=device or args.device,
        max_length=args.max_length,
        profile=args.profile,
        max_tokens=getattr(args, "max_batch_tokens", None),
    )


def add_reranker_args(parser: argparse.ArgumentParser, flag: str = "--reranker", *, required: bool = False) -> None:
    """Declare the reranker flag (`flag`) and --rerank-format; dtype and device are the model flags'."""
    parser.add_argument(
        flag,
        dest="reranker",
        required=required,
        metavar="DIR_OR_HUB_ID",
        help="yes/no reranker folder or hub id (Qwen3-VL-Reranker, `mme5 init-tiny --reranker`, `mme5 train` "
        "with task: rerank)",
    )
    parser.add_argument(
        "--rerank-format",
        choices=("qwen3-vl-reranker", "mme5"),
        help="how pairs are written (default: the folder's mme5_reranker.json, qwen3-vl-reranker for "
        "Qwen3-VL-Reranker checkpoints, else mme5; docs/rerank.md)",
    )


def add_reranker_model_args(parser: argparse.ArgumentParser) -> None:
    """`mme5 rerank`'s model flags: the reranker as --model (with --rerank-format), --dtype, --device
    and --batch-size (pairs per forward); a reranker takes no adapter, profile or max length flag."""
    add_reranker_args(parser, "--model", required=True)
    parser.add_argument("--dtype", default="auto", help=f"weights dtype: {DTYPES} (default auto: {AUTO_DTYPE})")
    parser.add_argument("--device", help="cpu | cuda | cuda:N (default: cuda if available, else cpu)")
    parser.add_argument(
        "--batch-size", type=_positive, default=16, metavar="N", help="pairs per forward (default: %(default)s)"
    )
    add_max_batch_tokens(parser)


def reranker_from_args(args: argparse.Namespace) -> Reranker:
    """Load the Reranker the reranker flags name, with the model flags' dtype and device."""
    from ..model.reranker import Reranker

    return Reranker.from_pretrained(
        args.reranker,
        fmt=args.rerank_format,
        dtype=args.dtype,
        device=args.device,
        max_tokens=getattr(args, "max_batch_tokens", None),
    )


def add_config_args(
    parser: argparse.ArgumentParser,
    *,
    what: str,
    examples: tuple[str, ...] = ("section.key=value",),
    positional: bool = False,
    file_help: str | None = None,
) -> None:
    """Declare the config file (positional CONFIG, or --config FILE) and the repeatable --set KEY=VALUE.

    `what` names the config class; `examples` are real KEY=VALUE overrides of it, shown in the epilog.
    """
    file_help = file_help or f"YAML file of {what} fields"
    if positional:
        parser.add_argument("config", metavar="CONFIG", help=file_help)
    else:
        parser.add_argument("--config", metavar="FILE", help=file_help)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one {what} field, e.g. --set {examples[0]} (repeatable; see below)",
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the epilog's line breaks
    epilog = SET_EPILOG.format(examples=" ".join(f"--set {e}" for e in examples))
    parser.epilog = f"{parser.epilog}\n\n{epilog}" if parser.epilog else epilog


def config_from_args(cls: type[T], args: argparse.Namespace, extra: list[str] | None = None) -> T:
    """The config the file + `extra` (command defaults, applied first) + --set overrides describe."""
    from ..config import load_config

    return load_config(cls, getattr(args, "config", None), [*(extra or []), *args.overrides])


def _positive(text: str) -> int:
    """argparse type: an integer >= 1 (argparse prints the message as a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_media_args(p) -> None:
    """--media-limit NAME=VALUE (the MediaPolicy's limits) and --skip-bad, for commands that read media."""
    p.add_argument(
        "--media-limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change one media limit (repeatable), e.g. max_frames=20000, max_decode_seconds=30; names and "
        "defaults: docs/media.md (the server's --set media.NAME=VALUE takes the same)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out inputs (or PDF pages) that cannot be read or exceed a media limit, and list them; "
        "default: stop at the first one, keeping the rows embedded before it",
    )


def media_policy_from_args(args: argparse.Namespace):
    """The MediaPolicy the --media-limit flags describe (the defaults without any)."""
    from ..media_policy import parse_limits

    return parse_limits(getattr(args, "media_limit", []))
