"""Mine hard negatives for training rows with an embedder (and optionally a reranker filter):

  mme5 mine --model EMBEDDER --input rows.jsonl --output mined.jsonl [--negatives 3] [--top-k 30]
            [--skip-top N] [--reranker R --max-reranker-score 0.9] [--image-root DIR]

Rows are in the training schema (`qry`, `qry_image_path`, `pos_text`, `pos_image_path`); each is
written back with `neg_text` / `neg_image_path` mined among the other rows' positives. See
docs/rerank.md.
"""

from __future__ import annotations

import json

from .options import add_model_args, add_reranker_args, embedder_from_args, reranker_from_args

NAME = "mine"
HELP = "mine hard negatives for training rows (embedder top k, false-negative filters)"


def register(p) -> None:
    add_model_args(p)
    p.add_argument("--input", required=True, metavar="JSONL", help="training rows (the training schema)")
    p.add_argument("--output", required=True, metavar="JSONL", help="the rows with neg_text / neg_image_path")
    p.add_argument(
        "--image-root", metavar="DIR", help="where relative image paths resolve (default: the input's folder)"
    )
    p.add_argument("--negatives", type=int, default=3, help="negatives per row (default: 3)")
    p.add_argument("--top-k", type=int, default=30, help="candidates read per query before filtering (default: 30)")
    p.add_argument("--skip-top", type=int, default=0, help="skip the first N candidates: likely false negatives")
    add_reranker_args(p)
    p.add_argument(
        "--max-reranker-score", type=float, metavar="P", help="drop candidates the reranker gives P(yes) above P"
    )
    p.add_argument(
        "--teacher-scores",
        action="store_true",
        help="also write teacher_scores (the reranker's logits of the positive and each negative) for "
        "`mme5 train` with distill_weight > 0",
    )


def run(args) -> int:
    from pathlib import Path

    from ..data.mine import MineOptions, mine
    from ..jsonl import iter_jsonl_objects
    from ..types import InputError

    options = MineOptions(args.top_k, args.negatives, args.skip_top, args.max_reranker_score, args.teacher_scores)
    options.check()  # before any model loads
    if not Path(args.input).is_file():
        raise InputError(f"input file not found: {args.input}")
    wheres, rows = zip(*iter_jsonl_objects(args.input)) if Path(args.input).stat().st_size else ((), ())
    if len(rows) < 2:
        raise InputError(f"{args.input}: mining needs at least 2 rows (the candidates are the other rows' positives)")
    root = Path(args.image_root) if args.image_root else Path(args.input).parent
    reranker = reranker_from_args(args) if args.reranker else None
    mined = mine(
        list(rows),
        list(wheres),
        embedder_from_args(args),
        options,
        image_root=root,
        reranker=reranker,
        batch_size=args.batch_size,
    )
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in mined)
    found = sum(len(json.loads(r["neg_text"])) for r in mined)
    print(f"mined {found} negatives for {len(mined)} rows into {args.output}")
    return 0
