"""The quickstart's model and its contrastive training loop (deliberately small and fast).

Each step: a batch of distinct training images, one name per image, both encoded through
`Embedder.prepare` + `Embedder.forward` (the shared encode path), symmetric InfoNCE, AdamW.
Batches depend only on (seed, step), so a resumed run sees exactly the batches a fresh one would.
"""
from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import torch

from ..data.emoji import EmojiSet
from ..training.losses import info_nce
from ..types import Item
from .config import ModelConfig, TrainConfig
from .evaluate import Instructions
from .splits import Pair, Splits

if TYPE_CHECKING:
    from ..model.embedder import Embedder, Prepared

log = logging.getLogger(__name__)
STATE_FILE = "state.pt"


def build_embedder(cfg: ModelConfig, corpus: Iterable[str], work_dir: Path) -> "Embedder":
    """The tiny backbone (BPE trained on `corpus`) or, with `cfg.path`, a real checkpoint + LoRA."""
    from ..model.embedder import Embedder
    from ..model.tiny import build_tiny

    if cfg.path is None:
        path = build_tiny(cfg.backbone, work_dir / "initial_model", seed=cfg.seed, sizes=cfg.sizes, corpus=corpus)
        return Embedder.from_pretrained(path, dtype="float32")
    embedder = Embedder.from_pretrained(cfg.path, backbone=None if cfg.backbone == "auto" else cfg.backbone)
    if cfg.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=cfg.lora_rank, lora_alpha=8 * cfg.lora_rank, lora_dropout=0.1,
                          target_modules=list(embedder.backbone.lora_targets))
        embedder.model = get_peft_model(embedder.model, lora)
    return embedder


def batch_pairs(splits: Splits, cfg: TrainConfig, eval_languages: tuple[str, ...], step: int) -> list[Pair]:
    """The pairs of `step`: distinct images from a per-epoch permutation, one name each."""
    images = sorted(splits.train)
    size = min(cfg.batch_size, len(images))
    per_epoch = len(images) // size
    epoch, j = divmod(step, per_epoch)
    order = images[:]
    random.Random(f"{cfg.seed}/epoch/{epoch}").shuffle(order)
    rng = random.Random(f"{cfg.seed}/step/{step}")
    wanted = set(eval_languages)
    pairs = []
    for image in order[j * size:(j + 1) * size]:
        options = splits.train[image]
        preferred = [p for p in options if p.language in wanted]
        if preferred and rng.random() < cfg.eval_language_weight:
            options = preferred
        pairs.append(rng.choice(options))
    return pairs


class ImageBank:
    """Processor outputs of every training image, computed once; a batch's image side is a row slice.

    Every image item has the same text, so the rows agree in length and slicing equals preparing
    the batch anew. Backbones whose tensors are not one row per item (Qwen's flat patch list), or
    banks over `max_bytes`, are prepared per batch instead.
    """

    def __init__(self, embedder: "Embedder", items: dict[int, Item], chunk: int = 256, max_bytes: int = 1 << 30) -> None:
        self.embedder, self.items = embedder, items
        self.row = {image: r for r, image in enumerate(items)}
        keys = list(items)
        first = embedder.prepare([items[k] for k in keys[:chunk]])
        per_row = sum(v.nbytes for _, t in first.parts for v in t.values() if torch.is_tensor(v)) / first.size
        self.tensors = None
        if per_row * len(keys) <= max_bytes:  # a real checkpoint's 560 px tiles would need GBs: skip
            rest = [embedder.prepare([items[k] for k in keys[s:s + chunk]]) for s in range(chunk, len(keys), chunk)]
            self.tensors = self._stack([first, *rest])

    @staticmethod
    def _stack(chunks) -> dict[str, torch.Tensor] | None:
        parts = [c.parts for c in chunks]
        if any(len(p) != 1 for p in parts):
            return None
        tensors = [p[0][1] for p in parts]
        for c, t in zip(chunks, tensors):
            if any(not torch.is_tensor(v) or v.shape[0] != c.size for v in t.values()):
                return None
        if any(v.shape[1:] != tensors[0][k].shape[1:] for t in tensors for k, v in t.items()):
            return None
        return {k: torch.cat([t[k] for t in tensors]) for k in tensors[0]}

    def prepare(self, images: list[int]) -> "Prepared":
        """The Prepared batch for these image indices (row i = images[i])."""
        from ..model.embedder import Prepared

        if self.tensors is None:
            return self.embedder.prepare([self.items[i] for i in images])
        index = torch.tensor([self.row[i] for i in images])
        return Prepared(parts=[(list(range(len(images))), {k: v[index] for k, v in self.tensors.items()})],
                        size=len(images), truncated=0)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to 0 at `cfg.steps`."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class TrainLog:
    """Loss per step and the wall time spent in steps (measured, for the report)."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_at: int = 0


def train(
    embedder: "Embedder", data: EmojiSet, splits: Splits, cfg: TrainConfig, ins: Instructions,
    eval_languages: tuple[str, ...], state_dir: Path | None = None,
) -> TrainLog:
    """Run `cfg.steps` steps, snapshotting to `state_dir` every `cfg.save_every` and resuming from it."""
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    model = embedder.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    record = TrainLog()
    start = _resume(state_dir, model, optimizer, scheduler, record)
    bank = ImageBank(embedder, {i: Item(image=data.records[i].image, instruction=ins.image) for i in sorted(splits.train)})
    model.train()
    bar = tqdm(range(start, cfg.steps), desc="train", unit="step", initial=start, total=cfg.steps)
    for step in bar:
        t0 = time.perf_counter()
        pairs = batch_pairs(splits, cfg, eval_languages, step)
        texts = embedder.prepare([Item(text=p.text, instruction=ins.query, language=p.language) for p in pairs])
        images = bank.prepare([p.image for p in pairs])
        loss = info_nce(embedder.forward(texts), embedder.forward(images), temperature=cfg.temperature,
                        symmetric=True, gather=False)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        record.losses.append(float(loss.detach()))
        record.seconds += time.perf_counter() - t0
        if step % 10 == 0:
            bar.set_postfix(loss=f"{record.losses[-1]:.3f}")
        done = step + 1
        if state_dir is not None and cfg.save_every and done % cfg.save_every == 0 and done < cfg.steps:
            _save(state_dir, model, optimizer, scheduler, record, done)
    model.eval()
    return record


def _save(state_dir: Path, model: torch.nn.Module, optimizer, scheduler, record: TrainLog, step: int) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (STATE_FILE + ".tmp")
    torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "losses": record.losses, "seconds": record.seconds}, tmp)
    tmp.replace(state_dir / STATE_FILE)  # atomic: a kill mid-save keeps the previous snapshot


def _resume(state_dir: Path | None, model: torch.nn.Module, optimizer, scheduler, record: TrainLog) -> int:
    path = state_dir / STATE_FILE if state_dir is not None else None
    if path is None or not path.is_file():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    record.losses, record.seconds, record.resumed_at = list(state["losses"]), float(state["seconds"]), int(state["step"])
    log.info("resumed training at step %d from %s", record.resumed_at, path)
    return record.resumed_at
