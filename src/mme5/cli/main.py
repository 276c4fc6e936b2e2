"""`mme5 <command>`: thin wrappers over the pipeline stages."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback
from types import ModuleType


def commands() -> dict[str, ModuleType]:
    """Every module in mme5.cli that defines NAME, HELP, register(parser) and run(args) is a command.

    Command modules import heavy libraries only inside `run`, so `--help` stays fast.
    """
    from .. import cli

    found = {}
    for info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"mme5.cli.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found[module.NAME] = module
    return found


def build_parser() -> argparse.ArgumentParser:
    """The `mme5` parser with one subparser per command module."""
    parser = argparse.ArgumentParser(
        prog="mme5",
        description="Multimodal multilingual embeddings the mmE5 way: synthesize, train, evaluate, serve.",
        epilog="A mistake in what you asked for (a bad config key, a missing file, an unusable input) prints "
        "`mme5 COMMAND: error: ...` and exits 2; anything else is a bug and shows its traceback (exit 1).",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging, with the libraries' INFO lines and progress bars (default: mme5's own progress "
        "and everyone's warnings, on stderr)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=bool(os.environ.get("MME5_DEBUG")),
        help="print the traceback of user errors too (default: $MME5_DEBUG)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in commands().items():
        p = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.register(p)
        p.set_defaults(_run=module.run)
    return parser


QUIET_LOGGERS = ("DeepSpeed",)
"""Libraries whose logger writes to stdout through its own handler (not the root's): only their errors
pass by default (DeepSpeed warns "Setting accelerator to CPU" when transformers merely probes for it)."""
QUIET_ENVIRONMENT = {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}
"""Set unless --verbose (a value already in the environment wins): transformers' weight loading and
saving bars. (Ray's Python loggers are quieted by `mme5.index.ray_engine`.)"""


def setup_logging(verbose: bool) -> None:
    """Default: mme5's own INFO lines plus every library's warnings, on stderr; third-party INFO lines
    (faiss's loader, Ray, ...) and progress bars stay quiet, so stdout holds results only. --verbose:
    DEBUG for everyone."""
    fmt = "%(levelname)s %(name)s: %(message)s"
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format=fmt)
        logging.getLogger().setLevel(logging.DEBUG)
        return
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    logging.basicConfig(level=logging.WARNING, format=fmt)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("mme5").setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if _errors_only not in logger.filters:
            logger.addFilter(_errors_only)


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the user asked for something impossible: reported in one line, exit 2.

    Everything else (KeyError, ValueError, ... raised by our own code) is a bug and keeps its traceback.
    """
    from ..config import ConfigError
    from ..types import InputError

    return (InputError, ConfigError)  # MissingFileError and UnknownBackboneError are among their subclasses


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (2 for user errors, as argparse does for bad flags)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args._run(args) or 0)
    except user_errors() as exc:
        if args.debug:
            traceback.print_exc()
        print(f"mme5 {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
