"""Embed items (text, image, video, PDF, instruction) from a JSONL file or arguments into a float32
.npy: row i = item i, except that a PDF gives one row per page; then `<output>.rows.jsonl` maps
every row to its input (`{"row", "input", "where", "page"}`, page from 1, null for other items)."""

from __future__ import annotations

from .options import add_model_args, embedder_from_args

NAME = "embed"
HELP = "embed texts, images, videos and PDF pages into vectors"


def register(p) -> None:
    p.add_argument("--input", help="JSONL, one item per line: {text, image, video, pdf, page, instruction, language}")
    p.add_argument("--text", action="append", default=[], help="a text to embed (repeatable)")
    p.add_argument("--image", action="append", default=[], help="an image path to embed (repeatable)")
    p.add_argument("--video", action="append", default=[], help="a video file or frame folder to embed (repeatable)")
    p.add_argument("--pdf", action="append", default=[], help="a PDF to embed, one row per page (repeatable)")
    p.add_argument("--instruction", help="instruction applied to --text/--image/--video/--pdf items")
    p.add_argument("--output", required=True, help="where to write the (n, dim) float32 .npy")
    add_model_args(p)


def run(args) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from ..jsonl import read_items_jsonl
    from ..media import expand_pdfs
    from ..types import InputError, Item, MissingFileError

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
    for flag, values in (("video", args.video), ("pdf", args.pdf)):
        for k, path in enumerate(values, 1):
            if not Path(path).exists():
                raise MissingFileError(f"--{flag} #{k}: not found: {path}")
            items.append(Item(instruction=args.instruction, **{flag: path}))
            wheres.append(f"--{flag} #{k}")
    if not items:
        raise InputError("nothing to embed: give --input, --text, --image, --video or --pdf")
    rows = expand_pdfs(items, wheres)  # a PDF -> one item per page
    embedder = embedder_from_args(args)
    row_wheres = [wheres[i] if page is None else f"{wheres[i]} page {page}" for i, page, _ in rows]
    vectors = embedder.encode([item for _, _, item in rows], batch_size=args.batch_size, where=row_wheres)
    np.save(args.output, vectors)
    print(
        f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 vectors to {args.output} "
        f"(input profile {embedder.profile})"
    )
    if any(page is not None for _, page, _ in rows):
        out = Path(args.output)
        mapping = out.with_name(out.name.removesuffix(".npy") + ".rows.jsonl")
        mapping.write_text(
            "".join(
                json.dumps({"row": r, "input": i, "where": wheres[i], "page": page, "profile": embedder.profile}) + "\n"
                for r, (i, page, _) in enumerate(rows)
            )
        )
        pages = sum(1 for _, page, _ in rows if page is not None)
        print(f"{pages} rows are PDF pages; which input and page each row is: {mapping}")
    return 0
