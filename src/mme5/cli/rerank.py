"""Score documents against one query with a yes/no reranker and print them best first.

Documents come from --input (JSONL, one item per line, as `mme5 embed --input`) and/or --doc TEXT
(repeatable). Each output line is `{"index", "relevance_score", "document"}`, `index` counting
the --input lines first, then the --doc texts. See docs/rerank.md.
"""

from __future__ import annotations

import json
import sys

NAME = "rerank"
HELP = "rerank documents against a query with a yes/no reranker"


def register(p) -> None:
    from .options import add_reranker_model_args

    add_reranker_model_args(p)
    p.add_argument("--query", metavar="TEXT", help="the query text")
    p.add_argument("--query-image", metavar="PATH", help="the query image (with or without --query)")
    p.add_argument("--input", metavar="JSONL", help="documents: one item object per line (text, image, video, ...)")
    p.add_argument("--doc", action="append", default=[], metavar="TEXT", help="a text document (repeatable)")
    p.add_argument("--instruction", help="the <Instruct> line (default: the model's)")
    p.add_argument("--top-n", type=int, metavar="N", help="print only the best N")
    p.add_argument("--output", metavar="FILE", help="write the JSONL here instead of stdout")


def run(args) -> int:
    from ..jsonl import read_items_jsonl
    from ..types import InputError, Item, parse_item
    from .options import reranker_from_args

    if args.top_n is not None and args.top_n < 1:
        raise InputError(f"--top-n must be >= 1, got {args.top_n}")
    query = parse_item(Item(text=args.query, image=args.query_image), "--query")  # checked before loading
    if args.query_image:
        from ..types import load_image

        load_image(args.query_image, "--query-image")
    items, _ = read_items_jsonl(args.input) if args.input else ([], [])
    documents = [*items, *(Item(text=t) for t in args.doc)]
    if not documents:
        raise InputError("no documents: give --input JSONL and/or --doc TEXT")
    shown = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()] if args.input else []
    shown += [{"text": t} for t in args.doc]
    reranker = reranker_from_args(args)
    scores = reranker.score(query, documents, args.instruction, batch_size=args.batch_size)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[: args.top_n]
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for i in order:
            out.write(json.dumps({"index": i, "relevance_score": scores[i], "document": shown[i]}) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
