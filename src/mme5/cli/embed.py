"""Embed items (text, image, instruction) from a JSONL file or arguments into a float32 .npy (row i = item i)."""
from __future__ import annotations

from .options import add_model_args, embedder_from_args

NAME = "embed"
HELP = "embed texts and images into vectors"


def register(p) -> None:
    p.add_argument("--input", help="JSONL, one item per line: {text, image, instruction, language}")
    p.add_argument("--text", action="append", default=[], help="a text to embed (repeatable)")
    p.add_argument("--image", action="append", default=[], help="an image path to embed (repeatable)")
    p.add_argument("--instruction", help="instruction applied to --text/--image items")
    p.add_argument("--output", required=True, help="where to write the (n, dim) float32 .npy")
    add_model_args(p)


def run(args) -> int:
    from pathlib import Path

    import numpy as np

    from ..inference.items import read_items_jsonl
    from ..types import InputError, Item

    items, wheres = read_items_jsonl(args.input) if args.input else ([], [])
    for k, text in enumerate(args.text, 1):
        if not text.strip():
            raise InputError(f"--text #{k} is empty")
        items.append(Item(text=text, instruction=args.instruction))
        wheres.append(f"--text #{k}")
    for k, image in enumerate(args.image, 1):
        if not Path(image).is_file():
            raise InputError(f"--image #{k}: image file not found: {image}")
        items.append(Item(image=image, instruction=args.instruction))
        wheres.append(f"--image #{k}")
    if not items:
        raise InputError("nothing to embed: give --input, --text or --image")
    embedder = embedder_from_args(args)
    vectors = embedder.encode(items, batch_size=args.batch_size, where=wheres)
    np.save(args.output, vectors)
    print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 vectors to {args.output}")
    return 0
