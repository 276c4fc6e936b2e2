"""Train an embedding model with the mmE5 contrastive recipe.

Examples:
  mme5 train configs/train/tiny.yaml
  mme5 train configs/train/mmE5-llama-11b.yaml --dry-run
  mme5 train configs/train/tiny.yaml --set max_steps=10 --set gradcache_chunk_size=4 --set output_dir=runs/t
  torchrun --nproc_per_node 8 -m mme5.cli.main train configs/train/mmE5-llama-11b.yaml
"""

from __future__ import annotations

NAME = "train"
HELP = "contrastive training (LoRA/DoRA, hard negatives, GradCache, DeepSpeed)"


def register(p) -> None:
    from .options import add_config_args

    add_config_args(
        p,
        what="TrainConfig",
        positional=True,
        file_help="YAML recipe (configs/train/*.yaml)",
        examples=("max_steps=10", "learning_rate=2e-4", "model.max_length=128"),
    )  # keeps the examples' line breaks
    p.add_argument(
        "--dry-run", action="store_true", help="validate config, datasets and model id without downloading or training"
    )


def run(args) -> int:
    from ..training.config import TrainConfig
    from .options import config_from_args

    cfg = config_from_args(TrainConfig, args)
    if args.dry_run:
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
