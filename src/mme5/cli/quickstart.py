"""Train the embedded tiny backbone on real multilingual emoji <-> CLDR-name pairs (offline, a few
minutes on a CPU), then show text -> image retrieval in 11 languages before and after training."""

from __future__ import annotations

NAME = "quickstart"
HELP = "the whole pipeline offline in minutes: build, train, evaluate, report"

# reduced mode for tests and smoke runs: small subset, few steps (the numbers are not meaningful)
FAST = [
    "split.max_images=240",
    "split.heldout_pairs_per_language=40",
    "split.eval_languages=[en,de,ja]",
    "train.max_steps=6",
    "train.per_device_batch_size=32",
    "train.save_steps=3",
    "tiny.sizes.vocab_size=600",
    "train.logging_steps=1",
    "check.min_languages=1",
]


def register(p) -> None:
    from .options import add_config_args

    p.add_argument("--out", help="run folder to write (default: a new runs/quickstart-YYYYmmdd-HHMMSS)")
    p.add_argument("--backbone", help="tiny backbone family to build (default mllama; e.g. qwen2_vl)")
    p.add_argument(
        "--model", help="fine-tune this real checkpoint (folder or hub id) with LoRA instead of the tiny model"
    )
    p.add_argument("--data", help="emoji pack or emoji_cldr folder (default: the subset shipped in mme5)")
    p.add_argument("--steps", type=int, help="training steps (default 1000; = --set train.max_steps=N)")
    p.add_argument("--fast", action="store_true", help="reduced mode: small subset, few steps (smoke test)")
    p.add_argument("--check", action="store_true", help="exit 1 unless the learning criterion holds")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out (a finished one is only reported again)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared machine 2 threads ran 28x slower per step; 0 = torch's choice)",
    )
    add_config_args(
        p,
        what="QuickstartConfig (train.* = the training stage's TrainConfig)",
        examples=("train.max_steps=300", "train.learning_rate=1e-3", "split.eval_languages=[en,de,ja]"),
    )


def run(args) -> int:
    import json

    from ..quickstart.config import QuickstartConfig
    from .options import config_from_args

    overrides = list(FAST) if args.fast else []
    for key, value in (
        ("tiny.backbone", args.backbone),
        ("base_model", args.model),
        ("split.source", args.data),
        ("train.max_steps", args.steps),
    ):
        if value is not None:  # JSON-quoted strings stay strings in YAML (a path like "2024" or "a: b")
            overrides.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    if args.model:
        overrides.append("train.model.finetune=lora")  # a real checkpoint: mmE5's adapter, not every weight
    cfg = config_from_args(QuickstartConfig, args, overrides)
    if cfg.base_model is None:
        from ..model.backbones import get_backbone

        get_backbone(cfg.tiny.backbone)  # fail before any work, listing the supported names

    import torch

    from ..quickstart.pipeline import run_quickstart

    if args.out is None:
        from datetime import datetime

        args.out = f"runs/quickstart-{datetime.now():%Y%m%d-%H%M%S}"  # a re-run never collides with the last
    previous = torch.get_num_threads()
    if args.threads:
        # one thread is predictable: OpenMP threads spin-wait when another process holds a core
        torch.set_num_threads(args.threads)
    try:
        result = run_quickstart(cfg, args.out, resume=args.resume)
    finally:
        torch.set_num_threads(previous)  # callers in the same process (tests) keep their setting
    print()
    print(result.table)
    timings = result.metrics["timings"]
    print(
        f"\nrun folder: {result.out_dir} (config.yaml, checkpoint/, metrics.json, chart.png); "
        f"train {result.metrics['training']['seconds']:.0f} s, total {timings['total_seconds']:.0f} s"
    )
    print("the same stages as commands:\n  " + "\n  ".join(result.commands))
    if args.check and not result.passed:
        print("mme5 quickstart: the learning check failed (see above)")
        return 1
    return 0
