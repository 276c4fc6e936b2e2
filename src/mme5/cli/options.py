"""Flags shared by many commands, declared once: the model flags and the `--set key=value` overrides.

Every command that loads a model calls `add_model_args` + `embedder_from_args`; every command that
takes a config calls `add_config_args` + `config_from_args`, so flags read the same everywhere.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..model.embedder import Embedder

T = TypeVar("T")

DTYPES = "auto | float32 | bfloat16 | float16"

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
) -> None:
    """Declare --model --adapter --profile --dtype --device --max-length --batch-size on `parser`.

    `batch_size_default=None` means the command takes its batch size from elsewhere (its config)
    unless the flag is given.
    """
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        metavar="DIR_OR_HUB_ID",
        help="model folder or hub id (default: the embedded tiny Mllama with RANDOM weights, "
        "built once under $MME5_CACHE: fine for trying the command, meaningless vectors)",
    )
    g.add_argument("--adapter", metavar="DIR", help="LoRA adapter folder (from `mme5 train`), merged at load time")
    g.add_argument(
        "--profile",
        metavar="NAME",
        help="input formatting profile: mme5, vlm2vec-v2 or qwen3-vl-embedding (default: the one the checkpoint "
        "calls for: qwen3-vl-embedding for Qwen3-VL-Embedding checkpoints, the profile mme5 recorded beside a "
        "model it trained or exported, else mme5)",
    )
    g.add_argument(
        "--dtype", default="auto", help=f"weights dtype: {DTYPES} (default auto: bfloat16 on CUDA, float32 on CPU)"
    )
    g.add_argument("--device", help="cpu | cuda | cuda:N (default: cuda if available, else cpu)")
    g.add_argument(
        "--max-length",
        type=_positive,
        default=None,
        metavar="N",
        help="tokens per item; longer inputs are truncated (default: the profile's: 256 as mmE5, "
        "8192 for qwen3-vl-embedding)",
    )
    shown = "%(default)s" if batch_size_default is not None else "from the config"
    g.add_argument(
        "--batch-size",
        type=_positive,
        default=batch_size_default,
        metavar="N",
        help=f"{batch_size_help} (default: {shown})",
    )


def embedder_from_args(args: argparse.Namespace, *, device: str | None = None) -> Embedder:
    """Load the Embedder the model flags name (`device` overrides --device, e.g. per torchrun rank)."""
    from ..model.loading import load_embedder

    return load_embedder(
        args.model,
        adapter=args.adapter,
        dtype=args.dtype,
        device=device or args.device,
        max_length=args.max_length,
        profile=args.profile,
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
