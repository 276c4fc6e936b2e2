"""Write a tiny random-weight backbone as a normal Hugging Face folder (offline; for tests and demos).

`--tokenizer llama3` (Mllama) swaps the trained ~600-id BPE for Meta's real Llama 3 tokenizer, converted
offline from the `llama-models` package (`pip install 'mme5[dev]'`), plus the hub checkpoint's image
processor (560 px tiles, up to 4, CLIP mean/std): the weights stay tiny, everything the model reads
is tokenized and preprocessed as for Llama-3.2-11B-Vision.
"""

from __future__ import annotations

NAME = "init-tiny"
HELP = "build a tiny offline backbone folder"


def register(p) -> None:
    from ..model.backbones import BACKBONES
    from ..model.tiny import BPE, tokenizer_choices

    real = [
        f"{name}: {', '.join(tokenizer_choices(b)[1:])}"
        for name, b in sorted(BACKBONES.items())
        if b.tiny.real_tokenizers
    ]
    p.add_argument("out_dir", help="folder to write (config, weights, tokenizer, processor)")
    p.add_argument("--backbone", default="mllama", help=f"one of: {', '.join(sorted(BACKBONES))}")
    p.add_argument(
        "--tokenizer",
        default=BPE,
        help=f"{BPE} (default: a small BPE trained in-process) or a real tokenizer of the family "
        f"({'; '.join(real)}), which also brings the hub's image-processor settings",
    )
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from ..model.backbones import get_backbone
    from ..model.tiny import build_tiny, real_tokenizer_preset

    real_tokenizer_preset(get_backbone(args.backbone), args.tokenizer)  # fail fast, naming the choices
    out = build_tiny(args.backbone, args.out_dir, seed=args.seed, tokenizer=args.tokenizer)
    print(f"wrote tiny {args.backbone} backbone ({args.tokenizer} tokenizer) to {out}")
    return 0
