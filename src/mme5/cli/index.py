"""Vector indexes over a JSONL corpus of items (`{text, image, instruction, language, id?, meta?}`):
`mme5 index build` embeds the corpus into a faiss index (resumable); `mme5 index search` queries one.
`mme5 serve --index DIR` serves it at POST /v1/search."""
from __future__ import annotations

from .options import add_model_args, embedder_from_args

NAME = "index"
HELP = "build (and query) a vector index over a JSONL corpus"


def register(p) -> None:
    sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="embed a corpus into an index folder (resumes an interrupted build)")
    build.add_argument("--input", required=True, help="corpus JSONL; relative image paths are relative to it")
    build.add_argument("--output", required=True, help="index folder to write")
    build.add_argument("--chunk-size", type=int, default=1024, help="items per saved chunk (the resume unit)")
    add_model_args(build)
    search = sub.add_parser("search", help="query an index from the command line")
    search.add_argument("index", help="index folder")
    search.add_argument("--text", help="query text")
    search.add_argument("--image", help="query image path")
    search.add_argument("--instruction", help="query instruction")
    search.add_argument("--top-k", type=int, default=5)
    add_model_args(search)


def run(args) -> int:
    return {"build": _build, "search": _search}[args.index_command](args)


def _build(args) -> int:
    from ..serving.index import build_index

    config = {k: getattr(args, k) for k in ("input", "output", "model", "adapter", "dtype", "max_length",
                                            "batch_size", "chunk_size")}
    index = build_index(embedder_from_args(args), args.input, args.output, batch_size=args.batch_size,
                        chunk_size=args.chunk_size, config=config, model=args.model or "mme5-tiny")
    print(f"indexed {len(index)} items (dim {index.dim}) into {args.output}")
    return 0


def _search(args) -> int:
    from ..serving.index import VectorIndex
    from ..types import InputError, Item

    if not (args.text or args.image or args.instruction):
        raise InputError("give a query: --text, --image and/or --instruction")
    index = VectorIndex.load(args.index)
    embedder = embedder_from_args(args)
    if index.fingerprint != embedder.fingerprint:
        raise InputError(f"{args.index} was built with another model (fingerprint {index.fingerprint}, "
                         f"this one is {embedder.fingerprint}); pass the same --model/--adapter as for the build")
    query = embedder.encode([Item(text=args.text, image=args.image, instruction=args.instruction)])
    for rank, hit in enumerate(index.search(query, args.top_k)[0], 1):
        record = index.records[hit.index]
        label = record["id"] if record["id"] is not None else f"row {hit.index}"
        shown = record["item"].get("text") or record["item"].get("image")
        print(f"{rank:>3}  {hit.score:.4f}  {label}  {shown}")
    return 0
