"""Write a tiny random-weight backbone as a normal Hugging Face folder (offline; for tests and demos).

By default its tokenizer is a small BPE trained in-process. `--tokenizer NAME` gives it a family's real
tokenizer instead (built offline) and the hub checkpoint's image-processor settings: only the weights
stay tiny, so everything the model reads is tokenized and preprocessed as for the released model.
"""

from __future__ import annotations

NAME = "init-tiny"
HELP = "build a tiny offline backbone folder"


def register(p) -> None:
    from ..model.backbones import BACKBONES
    from ..model.tiny import BPE

    real = [
        f"{name}: {token} ({preset.description})"
        for name, b in sorted(BACKBONES.items())
        for token, preset in sorted(b.tiny.real_tokenizers.items())
    ]
    p.add_argument("out_dir", help="folder to write (config, weights, tokenizer, processor)")
    p.add_argument(
        "--backbone",
        default=None,
        help=f"one of: {', '.join(sorted(BACKBONES))} (default mllama; qwen3_vl with --reranker)",
    )
    p.add_argument(
        "--tokenizer",
        default=BPE,
        metavar="NAME",
        help=f"{BPE} (default: ~600 ids trained in-process) or a real one: {'; '.join(real)}",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--reranker",
        action="store_true",
        help="a yes/no reranker (`yes`/`no` single tokens, mme5_reranker.json): load it with mme5.Reranker; "
        "a qwen3_vl one reads the published Qwen3-VL-Reranker format",
    )


def run(args) -> int:
    from ..model.backbones import get_backbone
    from ..model.tiny import build_tiny, real_tokenizer_preset

    backbone = args.backbone or ("qwen3_vl" if args.reranker else "mllama")
    real_tokenizer_preset(get_backbone(backbone), args.tokenizer)  # fail fast, naming the choices
    out = build_tiny(backbone, args.out_dir, seed=args.seed, tokenizer=args.tokenizer, reranker=args.reranker)
    kind = "reranker" if args.reranker else "backbone"
    print(f"wrote tiny {backbone} {kind} ({args.tokenizer} tokenizer) to {out}")
    return 0
