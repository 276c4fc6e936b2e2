"""Train the embedded tiny backbone on real multilingual emoji <-> CLDR-name pairs (offline, a few
minutes on a CPU), then show text -> image retrieval in 11 languages before and after training."""
from __future__ import annotations

NAME = "quickstart"
HELP = "the whole pipeline offline in minutes: build, train, evaluate, report"

# reduced mode for tests and smoke runs: small subset, few steps (the numbers are not meaningful)
FAST = [
    "data.max_images=240", "data.heldout_pairs_per_language=40", "data.eval_languages=[en,de,ja]",
    "train.steps=6", "train.batch_size=32", "train.save_every=3", "model.sizes.vocab_size=600",
    "check.min_languages=1",
]


def register(p) -> None:
    p.add_argument("--out", help="run folder to write (default: a new runs/quickstart-YYYYmmdd-HHMMSS)")
    p.add_argument("--backbone", help="tiny backbone family to build (default mllama; e.g. qwen2_vl)")
    p.add_argument("--model", help="fine-tune this real checkpoint (folder or hub id) with LoRA instead of the tiny model")
    p.add_argument("--data", help="emoji pack or emoji_cldr folder (default: the subset shipped in mme5)")
    p.add_argument("--steps", type=int, help="training steps (default 1000)")
    p.add_argument("--config", help="YAML file of QuickstartConfig fields")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set train.lr=1e-3 (repeatable)")
    p.add_argument("--fast", action="store_true", help="reduced mode: small subset, few steps (smoke test)")
    p.add_argument("--check", action="store_true", help="exit 1 unless the learning criterion holds")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out (a finished one is only reported again)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared machine 2 threads ran 28x slower per step; "
                        "0 = torch's choice)")


def run(args) -> int:
    import json

    from ..config import load_config
    from ..quickstart.config import QuickstartConfig

    overrides = list(FAST) if args.fast else []
    for key, value in (("model.backbone", args.backbone), ("model.path", args.model),
                       ("data.source", args.data), ("train.steps", args.steps)):
        if value is not None:  # JSON-quoted strings stay strings in YAML (a path like "2024" or "a: b")
            overrides.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    if args.model and not args.backbone:
        overrides.append("model.backbone=auto")  # detected from the checkpoint's config.json
    cfg = load_config(QuickstartConfig, args.config, overrides + args.overrides)
    from ..model.backbones import get_backbone

    if cfg.model.backbone != "auto":
        get_backbone(cfg.model.backbone)  # fail before any work, listing the supported names

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
    print(f"\nrun folder: {result.out_dir} (config.yaml, checkpoint/, metrics.json, chart.png); "
          f"train {result.metrics['training']['seconds']:.0f} s, total {timings['total_seconds']:.0f} s")
    if args.check and not result.passed:
        print("mme5 quickstart: the learning check failed (see above)")
        return 1
    return 0
