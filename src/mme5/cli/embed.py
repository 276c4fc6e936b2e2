"""Embed items (text, image, video, PDF, instruction) from a JSONL file or arguments into a float32
.npy: row i = item i, except that a PDF gives one row per page; then `<output>.rows.jsonl` maps
every row to its input (`{"row", "input", "where", "page"}`, page from 1, null for other items).

Rows are encoded chunk by chunk (progress counted in rows: pages for a PDF). A bad input or page
stops the run with the rows before it saved to `<output>.partial.npy`; `--skip-bad` leaves bad
ones out instead, lists them, and the row map says which input every row is."""

from __future__ import annotations

from .options import add_media_args, add_model_args, embedder_from_args, media_policy_from_args

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
    add_compact_args(p)
    add_media_args(p)
    add_model_args(p)


def add_compact_args(p) -> None:
    """--dim / --quantize / --force-dim: compact vectors (see mme5.quantize)."""
    p.add_argument("--dim", type=int, help="keep the first DIM coordinates, L2-normalised again (Matryoshka prefix)")
    p.add_argument(
        "--quantize",
        choices=["none", "int8", "binary"],
        default="none",
        help="int8: one byte per coordinate (ranges in <output>.quant.json); binary: sign bits packed "
        "8 per byte (np.packbits, uint8)",
    )
    p.add_argument(
        "--force-dim", action="store_true", help="accept a --dim the model was not trained for (see matryoshka_dims)"
    )


def compact_dim(args, embedder) -> int | None:
    """--dim checked against the prefix lengths the model was trained for (InputError if untrained)."""
    from ..quantize import trained_dims, untrained_dim_error
    from ..types import InputError

    if args.dim is None:
        return None
    if args.dim < 1:
        raise InputError(f"--dim must be >= 1, got {args.dim}")
    error = untrained_dim_error(args.dim, trained_dims([args.adapter, args.model], embedder.dim), embedder.dim)
    if error and (args.dim > embedder.dim or not args.force_dim):
        raise InputError(f"--dim {error}" + ("" if args.dim > embedder.dim else "; pass --force-dim to use it anyway"))
    return args.dim


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    import numpy as np

    from ..encode_rows import StoppedAt, encode_rows
    from ..jsonl import read_items_jsonl
    from ..media import expand_pdfs
    from ..quantize import Int8Codec, encode, truncate
    from ..types import InputError, Item, MissingFileError

    policy = media_policy_from_args(args)
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
    rows, skipped = [], []  # rows: (input index, page or None, item); a PDF -> one row per page
    for i, item in enumerate(items):
        try:
            rows += [(i, page, row) for _, page, row in expand_pdfs([item], [wheres[i]], policy)]
        except InputError as exc:
            if not args.skip_bad:
                raise
            skipped.append(str(exc))
    embedder = embedder_from_args(args)
    embedder.media_policy = policy
    dim = compact_dim(args, embedder)  # before encoding: a refused --dim costs nothing
    row_wheres = [wheres[i] if page is None else f"{wheres[i]} page {page}" for i, page, _ in rows]
    unit = "page" if rows and all(page is not None for _, page, _ in rows) else "row"
    out = Path(args.output)
    try:
        vectors, kept, bad = encode_rows(
            embedder, [item for _, _, item in rows], row_wheres, args.batch_size, skip_bad=args.skip_bad, unit=unit
        )
    except StoppedAt as stop:
        if not stop.done:
            raise InputError(f"{stop} (--skip-bad leaves bad inputs out)") from None
        partial = out.with_name(out.name.removesuffix(".npy") + ".partial.npy")
        np.save(partial, stop.vectors)
        _write_rows(out, rows, list(range(stop.done)), wheres, embedder.profile, partial=True)
        raise InputError(
            f"{stop}; the {stop.done} rows before it are saved in {partial} (--skip-bad leaves bad inputs out)"
        ) from None
    skipped += [f"{b.reason}" for b in bad]
    if rows and not kept:
        raise InputError(f"every input was bad; the first: {skipped[0]}")
    vectors = truncate(vectors, dim)
    what = f"{vectors.shape[1]}-dim float32"
    if args.quantize == "int8":
        codec = Int8Codec.fixed(vectors.shape[1])
        what, vectors = f"{vectors.shape[1]}-dim int8", codec.encode(vectors)
        sidecar = out.with_name(out.name.removesuffix(".npy") + ".quant.json")
        sidecar.write_text(json.dumps({"format": "int8", "dim": vectors.shape[1], **codec.to_json()}))
        print(f"int8 ranges (value = low + step * (code + 128)) in {sidecar}")
    elif args.quantize == "binary":  # one bit per coordinate, np.packbits of the sign
        what, vectors = f"{vectors.shape[1]}-dim binary (uint8 packed)", encode(vectors, "ubinary")
    np.save(out, vectors)
    print(
        f"wrote {vectors.shape[0]} {what} vectors ({vectors.shape[1]} bytes each) to {out} "
        f"(input profile {embedder.profile})"
    )
    for reason in skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    if skipped or any(page is not None for _, page, _ in rows):
        mapping = _write_rows(out, rows, kept, wheres, embedder.profile)
        pages = sum(1 for r in kept if rows[r][1] is not None)
        print(f"{pages} rows are PDF pages, {len(skipped)} inputs or pages skipped; which input each row is: {mapping}")
    return 0


def _write_rows(out, rows, kept: list[int], wheres: list[str], profile: str, partial: bool = False):
    """`<output>.rows.jsonl` (or `.partial.rows.jsonl`): for every written row, its input and page."""
    import json

    stem = out.name.removesuffix(".npy") + (".partial" if partial else "")
    mapping = out.with_name(stem + ".rows.jsonl")
    mapping.write_text(
        "".join(
            json.dumps(
                {"row": r, "input": rows[k][0], "where": wheres[rows[k][0]], "page": rows[k][1], "profile": profile}
            )
            + "\n"
            for r, k in enumerate(kept)
        )
    )
    return mapping
