"""Train an embedding model with the mmE5 contrastive recipe.

Examples:
  mme5 train configs/train/tiny.yaml
  mme5 train configs/train/mmE5-llama-11b.yaml --dry-run
  mme5 train configs/train/tiny.yaml max_steps=10 gradcache_chunk_size=4 output_dir=runs/t
  torchrun --nproc_per_node 8 -m mme5.cli.main train configs/train/mmE5-llama-11b.yaml
"""
from __future__ import annotations

NAME = "train"
HELP = "contrastive training (LoRA/DoRA, hard negatives, GradCache, DeepSpeed)"


def register(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' line breaks
    p.add_argument("config", help="YAML recipe (configs/train/*.yaml)")
    # REMAINDER: overrides may come before or after --dry-run (plain nargs="*" rejects the latter)
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="key=value",
                   help="override config keys (nested: model.max_length=128)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate config, datasets and model id without downloading or training")


def run(args) -> int:
    from ..config import load_config
    from ..training.config import TrainConfig

    flags = [o for o in args.overrides if o.startswith("--")]
    if set(flags) - {"--dry-run"}:
        raise ValueError(f"unknown option(s) {sorted(set(flags) - {'--dry-run'})}; see `mme5 train --help`")
    cfg = load_config(TrainConfig, args.config, [o for o in args.overrides if not o.startswith("--")])
    if args.dry_run or flags:
        from ..training.dryrun import dry_run

        for line in dry_run(cfg):
            print(line)
        print(f"dry run OK: {args.config}")
        return 0
    import os

    import torch.distributed as dist

    from ..training.run import train

    out = train(cfg)
    if os.environ.get("RANK", "0") == "0":  # torchrun: one line, not one per process
        print(f"trained model written to {out}")
    if dist.is_initialized():  # release the process group before exit, as PyTorch asks
        dist.barrier()
        dist.destroy_process_group()
    return 0
