"""Write a tiny random-weight backbone as a normal Hugging Face folder (offline; for tests and demos)."""
from __future__ import annotations

NAME = "init-tiny"
HELP = "build a tiny offline backbone folder"


def register(p) -> None:
    from ..model.backbones import BACKBONES

    p.add_argument("out_dir", help="folder to write (config, weights, tokenizer, processor)")
    p.add_argument("--backbone", default="mllama", help=f"one of: {', '.join(sorted(BACKBONES))}")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from ..model.backbones import get_backbone
    from ..model.tiny import build_tiny

    get_backbone(args.backbone)  # fail fast with the list of supported names
    out = build_tiny(args.backbone, args.out_dir, seed=args.seed)
    print(f"wrote tiny {args.backbone} backbone to {out}")
    return 0
