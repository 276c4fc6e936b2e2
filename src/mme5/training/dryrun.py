"""`mme5 train --dry-run`: validate a recipe (config, datasets, model id, DeepSpeed file) without
downloading data or weights. Hub ids are checked against hub metadata when the hub is reachable
and only for form when offline; local sources are opened and their first rows parsed."""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from ..config import ConfigError
from ..data.schema import row_to_example
from ..data.sources import HUB_ID, READERS, resolve_source
from .config import TrainConfig
from .model import TINY_SCHEME
from .run import validate, world_size

PEEK_ROWS = 20


def offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def check_model(cfg: TrainConfig) -> str:
    from ..model.backbones import detect_backbone, get_backbone

    name = cfg.model.name_or_path
    if name.startswith(TINY_SCHEME):
        family = get_backbone(name[len(TINY_SCHEME):] or "mllama").name
        return f"model {name}: tiny {family} (built offline on first use)"
    if Path(name).is_dir():
        return f"model {name}: local folder, backbone {detect_backbone(name).name}"
    if not HUB_ID.match(name):
        raise FileNotFoundError(f"model.name_or_path: {name} is neither a local folder nor a hub id (org/name)")
    if offline():
        if cfg.model.backbone is None:
            raise ConfigError(f"model.backbone: set it for hub id {name} (offline: its config cannot be read)")
        return f"model {name}: hub id, backbone {get_backbone(cfg.model.backbone).name} (not contacted: offline)"
    from huggingface_hub import HfApi

    info = HfApi().model_info(name)  # metadata only, no weights
    model_type = (info.config or {}).get("model_type") or cfg.model.backbone
    return f"model {name}: found on the hub, backbone {get_backbone(model_type).name}"


def check_source(path: str, subsets: tuple[str, ...], negative_ratio: int, image_root: str | None) -> list[str]:
    lines = []
    for subset in subsets or (None,):
        label = f"{path}{'/' + subset if subset else ''}"
        src = resolve_source(path, subset)
        if src.kind == "hub":
            lines.append(f"data {label}: hub dataset{_hub_subset_note(path, subset)}")
            continue
        root = Path(image_root) if image_root else src.default_image_root
        rows = list(itertools.islice(READERS[src.kind](src, "train"), PEEK_ROWS))
        if not rows:
            raise ConfigError(f"data {label}: no rows")
        for where, row in rows:
            row_to_example(row, where=where, source=label, image_root=root, negative_ratio=negative_ratio)
        lines.append(f"data {label}: {src.kind}, first {len(rows)} rows parse")
    return lines


def _hub_subset_note(dataset: str, subset: str | None) -> str:
    if offline():
        return " (not contacted: offline)"
    from huggingface_hub import HfApi

    info = HfApi().dataset_info(dataset)  # metadata only
    configs = [c.get("config_name") for c in (getattr(info.card_data, "configs", None) or []) if isinstance(c, dict)]
    if subset and configs and subset not in configs:
        raise ConfigError(f"{dataset}: no subset {subset!r}; it has {configs}")
    return ", found on the hub"


def dry_run(cfg: TrainConfig) -> list[str]:
    """Report lines; raises on the first problem."""
    validate(cfg)
    lines = [check_model(cfg)]
    for source in cfg.data.sources:
        lines += check_source(source.path, source.subsets, cfg.data.negative_ratio, source.image_root)
    if not cfg.data.sources:
        raise ConfigError("data.sources is empty")
    if cfg.deepspeed:
        try:
            stage = json.loads(Path(cfg.deepspeed).read_text()).get("zero_optimization", {}).get("stage")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"deepspeed: {cfg.deepspeed} is not valid JSON ({exc.msg})") from None
        lines.append(f"deepspeed {cfg.deepspeed}: ZeRO stage {stage}")
    batch = cfg.per_device_batch_size * world_size()
    lines.append(
        f"batch: {cfg.per_device_batch_size} per device x {world_size()} devices = {batch} in-batch pool, "
        f"x {cfg.gradient_accumulation_steps} accumulation = {batch * cfg.gradient_accumulation_steps} per step; "
        f"GradCache chunk {cfg.gradcache_chunk_size or 'off'}; {cfg.data.negative_ratio} hard negatives per query"
    )
    return lines
