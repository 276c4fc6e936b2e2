"""The whole quickstart: data -> split -> model -> untrained eval -> train -> trained eval -> run folder.

Run folder (`out_dir`):
  config.yaml          the resolved QuickstartConfig
  splits.json          which images / (image, language) pairs were held out
  untrained.json       metrics of the model before training (reused on resume)
  state/state.pt       resumable training snapshot (deleted when training completes)
  checkpoint/          the trained model + processor (loads with `mme5 embed --model ...`)
  metrics.json         provenance, metrics before/after, chance, learning check, timings, losses
  chart.png            Recall@10 per language and split, and the loss curve
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..config import diff_configs, to_dict
from ..data.emoji import EmojiSet, load_emoji
from ..provenance import provenance, write_json
from .config import QuickstartConfig
from .evaluate import Instructions, evaluate_all, learning_check
from .report import format_table, write_chart
from .splits import Splits, make_splits, seen_text_share

if TYPE_CHECKING:
    from ..model.embedder import Embedder

log = logging.getLogger(__name__)


@dataclass
class QuickstartResult:
    """What the command prints and checks; everything is also in `out_dir/metrics.json`."""

    out_dir: Path
    metrics: dict
    table: str

    @property
    def passed(self) -> bool:
        return bool(self.metrics["check"]["passed"])


def run_quickstart(cfg: QuickstartConfig, out_dir: str | Path, *, resume: bool = False) -> QuickstartResult:
    """Run every stage; with `resume`, continue (or, if finished, just report) a run folder of the same config."""
    import torch

    start, cpu_start = time.perf_counter(), time.process_time()
    out = Path(out_dir)
    finished = _prepare_folder(out, cfg, resume)
    if finished is not None:
        log.info("%s holds a finished run; showing its results", out)
        return QuickstartResult(out, finished, format_table(finished["trained"], finished["untrained"], finished["check"]))
    data = load_emoji(cfg.data.source)
    splits = make_splits(data, cfg.data)
    write_json(out / "splits.json", _describe_splits(data, splits))
    ins = Instructions(cfg.data.query_instruction, cfg.data.image_instruction)
    retrieval = [splits.heldout_pairs, splits.heldout_images]
    log.info("%d images, %d training pairs in %d languages", len(data), splits.num_train_pairs,
             len({p.language for ps in splits.train.values() for p in ps}))

    from .train import build_embedder, train

    torch.manual_seed(cfg.model.seed)
    # the tokenizer learns the training names and the instructions (never a held-out name)
    corpus = splits.train_texts + [x for x in (ins.query, ins.image) if x] * 50
    embedder = build_embedder(cfg.model, corpus, out)
    t_eval = time.perf_counter()
    untrained_file = out / "untrained.json"
    if resume and untrained_file.is_file():
        untrained = json.loads(untrained_file.read_text(encoding="utf-8"))
    else:
        untrained = evaluate_all(embedder, data, retrieval, ins, cfg.eval_batch_size)
        write_json(untrained_file, untrained)
    eval_seconds = time.perf_counter() - t_eval

    train_log = train(embedder, data, splits, cfg.train, ins, cfg.data.eval_languages, out / "state")
    t_eval = time.perf_counter()
    trained = evaluate_all(embedder, data, retrieval, ins, cfg.eval_batch_size)
    eval_seconds += time.perf_counter() - t_eval
    _save_checkpoint(embedder, out / "checkpoint", cfg)
    shutil.rmtree(out / "state", ignore_errors=True)

    check = learning_check(trained, untrained, cfg.check.factor, cfg.check.min_languages)
    metrics = provenance(
        to_dict(cfg),
        splits={s.name: {"description": s.description, "gallery": len(s.gallery),
                         "seen_text_share": seen_text_share(s, splits)} for s in retrieval},
        untrained=untrained,
        trained=trained,
        check=check,
        training={"steps": cfg.train.steps, "train_pairs": splits.num_train_pairs, "train_images": len(splits.train),
                  "seconds": round(train_log.seconds, 2), "resumed_at": train_log.resumed_at,
                  "final_loss": train_log.losses[-1] if train_log.losses else None, "losses": train_log.losses},
        timings={"eval_seconds": round(eval_seconds, 2), "total_seconds": round(time.perf_counter() - start, 2),
                 "process_cpu_seconds": round(time.process_time() - cpu_start, 2), "torch_threads": torch.get_num_threads()},
        data_source=data.source,
    )
    write_json(out / "metrics.json", metrics)
    write_chart(out / "chart.png", trained, untrained, train_log.losses)
    return QuickstartResult(out, metrics, format_table(trained, untrained, check))


def _prepare_folder(out: Path, cfg: QuickstartConfig, resume: bool) -> dict | None:
    """Refuse to mix runs: a non-empty folder needs `resume` and the same config.

    Returns the stored metrics when the folder already holds a finished run.
    """
    config_file = out / "config.yaml"
    if out.exists() and any(out.iterdir()):
        if not resume:
            raise ValueError(f"{out} is not empty; pass --resume to continue it or choose another --out")
        if not config_file.is_file():
            raise ValueError(f"{out} is not a quickstart run folder (no config.yaml); choose another --out")
        old = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        changed = diff_configs(old, to_dict(cfg))
        if changed:
            raise ValueError(f"{out} was started with a different config ({', '.join(changed)}); use another --out")
        if (out / "metrics.json").is_file():
            return json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(to_dict(cfg), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return None


def _describe_splits(data: EmojiSet, splits: Splits) -> dict:
    ids = [r.id for r in data.records]
    return {
        "heldout_images": [ids[i] for i in splits.heldout_images.gallery],
        "heldout_pairs": {lang: [ids[p.image] for p in pairs] for lang, pairs in splits.heldout_pairs.queries.items()},
    }


def _save_checkpoint(embedder: "Embedder", path: Path, cfg: QuickstartConfig) -> None:
    """A plain HF folder: LoRA (if any) merged, so `Embedder.from_pretrained(path)` loads it."""
    model = embedder.model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
        embedder.model = model
    model.save_pretrained(path)
    embedder.processor.save_pretrained(path)
    write_json(path / "mme5_provenance.json", provenance(to_dict(cfg), stage="quickstart"))
