"""`mme5 <command>`: thin wrappers over the pipeline stages."""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys


def commands() -> dict:
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
    parser = argparse.ArgumentParser(
        prog="mme5", description="Multimodal multilingual embeddings the mmE5 way: synthesize, train, evaluate, serve."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in commands().items():
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.register(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..types import InputError

    try:
        return int(args._run(args) or 0)
    except (InputError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"mme5 {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
