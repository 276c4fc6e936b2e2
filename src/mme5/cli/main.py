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
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args._run(args) or 0)
    except user_errors() as exc:
        if args.debug:
            traceback.print_exc()
        print(f"mme5 {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
