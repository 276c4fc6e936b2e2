"""The whole quickstart, as a recipe over the real stages:

data (emoji split -> training rows) -> model (tiny build) -> `mme5 eval` of the untrained model ->
`mme5 train` (the training stage's `train()`) -> `mme5 eval` of the checkpoint -> report.

Run folder (`out_dir`):
  config.yaml          the resolved QuickstartConfig
  splits.json          the held-out splits, as the `emoji-*` evaluation tasks read them
  data/                train.jsonl (training schema) + images/ : the training data
  initial_model/       the tiny model before training (its tokenizer learnt the training names)
  checkpoint/          `mme5 train`'s output_dir: the trained model (loads with `--model`),
                       train_config.yaml, train_log.jsonl, checkpoint-N/ (what --resume continues)
  eval/untrained, eval/trained   `mme5 eval` run folders (tasks/*.json, the embedding cache)
  metrics.json         provenance, metrics before/after, chance, learning check, timings, losses
  chart.png            Recall@10 per language and split, and the loss curve
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..config import ConfigError, diff_configs, to_dict
from ..data.config import SourceConfig
from ..data.emoji import load_emoji
from ..evaluation.emoji import DEFINITION_FILE, SPLITS, task_name
from ..provenance import provenance, write_json
from ..training.config import TrainConfig
from ..types import InputError
from .commands import equivalent_commands
from .config import QuickstartConfig
from .report import format_table, learning_check, write_chart
from .rows import write_training_rows
from .splits import make_splits, seen_text_share, split_definition

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint"


@dataclass
class QuickstartResult:
    """What the command prints and checks; everything is also in `out_dir/metrics.json`."""

    out_dir: Path
    metrics: dict
    table: str
    commands: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.metrics["check"]["passed"])


def run_quickstart(
    cfg: QuickstartConfig, out_dir: str | Path, *, resume: bool = False, callbacks: Sequence = ()
) -> QuickstartResult:
    """Run every stage; with `resume`, continue (or, if finished, just report) a run folder of the same
    config. `callbacks` go to the training stage's HF Trainer."""
    import torch

    start, cpu_start = time.perf_counter(), time.process_time()
    out = Path(out_dir)
    finished = _prepare_folder(out, cfg, resume)
    if finished is not None:
        log.info("%s holds a finished run; showing its results", out)
        return QuickstartResult(
            out,
            finished,
            format_table(finished["trained"], finished["untrained"], finished["check"]),
            finished.get("commands", []),
        )
    data = load_emoji(cfg.split.source)
    splits = make_splits(data, cfg.split)
    write_json(out / DEFINITION_FILE, split_definition(data, splits, cfg.split).to_json())
    train_file = write_training_rows(data, splits, cfg.split, out / "data")
    log.info(
        "%d images, %d training pairs in %d languages",
        len(data),
        splits.num_train_pairs,
        len({p.language for ps in splits.train.values() for p in ps}),
    )
    base = cfg.base_model or str(_build_tiny(cfg, splits.train_texts, out / "initial_model"))
    train_cfg = placed(cfg.train, out, base, train_file)
    specs = [task_name(letter, lang) for letter in SPLITS for lang in cfg.split.eval_languages]
    commands = equivalent_commands(train_cfg, specs, out, cfg.evaluation.views)
    log.info("equivalent commands:\n  %s", "\n  ".join(commands))

    t_eval = time.perf_counter()
    untrained = evaluate(base, specs, out, "untrained", cfg)
    eval_seconds = time.perf_counter() - t_eval

    from ..training.run import resume_checkpoint, train

    continued = resume_checkpoint(train_cfg)
    t_train = time.perf_counter()
    train(train_cfg, callbacks=callbacks)
    train_seconds = time.perf_counter() - t_train
    t_eval = time.perf_counter()
    trained = evaluate(str(out / CHECKPOINT), specs, out, "trained", cfg)
    eval_seconds += time.perf_counter() - t_eval

    loss_steps, losses = read_losses(out / CHECKPOINT / "train_log.jsonl")
    check = learning_check(trained, untrained, cfg.check.factor, cfg.check.min_languages)
    metrics = provenance(
        to_dict(cfg),
        splits={
            s.name: {
                "description": s.description,
                "gallery": len(s.gallery),
                "seen_text_share": seen_text_share(s, splits),
            }
            for s in (splits.heldout_pairs, splits.heldout_images)
        },
        untrained=untrained,
        trained=trained,
        check=check,
        training={
            "steps": train_cfg.max_steps,
            "train_pairs": splits.num_train_pairs,
            "train_images": len(splits.train),
            "seconds": round(train_seconds, 2),
            "resumed_at": int(Path(continued).name.split("-")[-1]) if continued else 0,
            "final_loss": losses[-1] if losses else None,
            "losses": losses,
            "loss_steps": loss_steps,
        },
        timings={
            "eval_seconds": round(eval_seconds, 2),
            "total_seconds": round(time.perf_counter() - start, 2),
            "process_cpu_seconds": round(time.process_time() - cpu_start, 2),
            "torch_threads": torch.get_num_threads(),
        },
        commands=commands,
        data_source=data.source,
    )
    write_json(out / "metrics.json", metrics)
    write_chart(out / "chart.png", trained, untrained, losses, loss_steps)
    return QuickstartResult(out, metrics, format_table(trained, untrained, check), commands)


def placed(train_cfg: TrainConfig, out: Path, model: str, train_file: Path) -> TrainConfig:
    """The recipe with this run's paths: output_dir, the model to start from, the training rows."""
    return replace(
        train_cfg,
        output_dir=str(out / CHECKPOINT),
        model=replace(train_cfg.model, name_or_path=model),
        data=replace(train_cfg.data, sources=(SourceConfig(path=str(train_file)),)),
    )


def evaluate(model: str, task_names: list[str], out: Path, name: str, cfg: QuickstartConfig) -> dict:
    """`mme5 eval tasks <emoji tasks> --model MODEL --data-dir OUT` -> {split: {language: metrics}}."""
    from ..evaluation.metrics import chance_recall
    from ..evaluation.runner import Runner
    from ..evaluation.tasks import resolve_tasks
    from ..model.embedder import Embedder

    embedder = Embedder.from_pretrained(model, dtype="float32", device="cpu")
    config = replace(
        cfg.evaluation,
        data=replace(cfg.evaluation.data, data_dir=str(out)),
        cache_dir=cfg.evaluation.cache_dir or str(out / "eval" / "cache"),
    )
    specs = resolve_tasks(task_names)
    results = Runner(embedder, config, out / "eval" / name, model_name=model).run(specs)
    table: dict[str, dict[str, dict]] = {}
    for spec, r in zip(specs, results):
        gallery = int(round(r["protocols"]["row"]["mean_candidates"]))
        tie_aware = r["protocols"]["row"]["tie_aware"]  # a model that embeds all images alike ranks last
        table.setdefault(SPLITS[spec.hub_config], {})[spec.language or ""] = {
            "queries": r["rows"],
            "gallery": gallery,
            "R@1": tie_aware["recall@1"] / 100,
            "R@10": tie_aware["recall@10"] / 100,
            "chance_R@1": chance_recall(1, gallery),
            "chance_R@10": chance_recall(10, gallery),
            # the same vectors as prefixes / binary codes (+ float rescoring): tie-aware R@10
            "views": {n: v["recall@10_tie_aware"] / 100 for n, v in r.get("views", {}).items()},
        }
    return table


def read_losses(log_file: Path) -> tuple[list[int], list[float]]:
    """(steps, losses) of every logged step (the last line wins for a step logged twice on resume)."""
    by_step: dict[int, float] = {}
    if log_file.is_file():
        for line in log_file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "loss" in row:
                by_step[int(row["step"])] = float(row["loss"])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def _build_tiny(cfg: QuickstartConfig, train_texts: list[str], folder: Path) -> Path:
    """The tiny model, its tokenizer trained on the training names and the instructions (never on a
    held-out name); a resumed run reuses the one it built."""
    from ..model.tiny import build_tiny

    if (folder / "config.json").is_file():
        return folder
    instructions = [x for x in (cfg.split.query_instruction, cfg.split.image_instruction) if x]
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    build_tiny(cfg.tiny.backbone, tmp, seed=cfg.tiny.seed, sizes=cfg.tiny.sizes, corpus=train_texts + instructions * 50)
    tmp.replace(folder)  # complete or absent: a kill mid-build leaves nothing to reuse
    return folder


def _prepare_folder(out: Path, cfg: QuickstartConfig, resume: bool) -> dict | None:
    """Refuse to mix runs: a non-empty folder needs `resume` and the same config.

    Returns the stored metrics when the folder already holds a finished run.
    """
    config_file = out / "config.yaml"
    if out.exists() and any(out.iterdir()):
        if not resume:
            raise InputError(f"{out} is not empty; pass --resume to continue it or choose another --out")
        if not config_file.is_file():
            raise InputError(f"{out} is not a quickstart run folder (no config.yaml); choose another --out")
        old = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        changed = diff_configs(old, to_dict(cfg))
        if changed:
            raise ConfigError(f"{out} was started with a different config ({', '.join(changed)}); use another --out")
        if (out / "metrics.json").is_file():
            return json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(to_dict(cfg), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return None
