"""`mme5 train --dry-run`: validate a recipe (config, datasets, model id, DeepSpeed file) without
downloading data or weights. Hub ids are checked against hub metadata when the hub is reachable;
offline (HF_HUB_OFFLINE) or when it cannot be reached, they are checked for form, and the subsets
of the paper's datasets against their released names. Local sources are opened and their first
rows parsed."""

from __future__ import annotations

import difflib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..data.schema import row_to_example
from ..data.sources import HUB_ID, READERS, resolve_source
from ..types import MissingFileError
from .config import TrainConfig, zero_stage
from .model import TINY_SCHEME
from .run import validate, world_size

PEEK_ROWS = 20
# the configs of the released mmE5 training sets (configs/train/mmE5-llama-11b.yaml, spec method.md):
# checked when the hub cannot be asked, so a misspelled subset fails here and not at training start
RELEASED_SUBSETS = {
    "intfloat/mmE5-MMEB-hardneg": (
        "TAT-DQA",
        "ArxivQA",
        "InfoSeek_it2t",
        "InfoSeek_it2it",
        "ImageNet_1K",
        "N24News",
        "HatefulMemes",
        "SUN397",
        "VOC2007",
        "InfographicsVQA",
        "ChartQA",
        "A-OKVQA",
        "DocVQA",
        "OK-VQA",
        "Visual7W",
        "VisDial",
        "CIRR",
        "NIGHTS",
        "WebQA",
        "VisualNews_i2t",
        "VisualNews_t2i",
        "MSCOCO_i2t",
        "MSCOCO_t2i",
        "MSCOCO",
    ),
    "intfloat/mmE5-synthetic": ("Classification", "Retrieval", "VQA"),
}


def offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


class Hub:
    """Hub metadata for one dry run (no downloads). `note` says why the hub is not asked: offline
    mode, or the first connection failure (later checks then skip the hub too)."""

    def __init__(self) -> None:
        self.note = "offline" if offline() else None
        self._answers: dict[tuple[str, str], Any] = {}  # one call per repo, not per subset

    def ask(self, method: str, repo_id: str) -> Any | None:
        """`HfApi().<method>(repo_id)`, or None when the hub is not asked or cannot be reached."""
        if self.note:
            return None
        if (method, repo_id) not in self._answers:
            import httpx2  # huggingface_hub's HTTP client
            from huggingface_hub import HfApi
            from huggingface_hub.errors import OfflineModeIsEnabled

            try:
                self._answers[method, repo_id] = getattr(HfApi(), method)(repo_id)
            except (httpx2.TransportError, OfflineModeIsEnabled) as exc:
                self.note = f"hub unreachable, {type(exc).__name__}"
                return None
        return self._answers[method, repo_id]


def check_model(cfg: TrainConfig, hub: Hub) -> str:
    from ..model.backbones import detect_backbone, get_backbone

    name = cfg.model.name_or_path
    if name.startswith(TINY_SCHEME):
        family = get_backbone(name[len(TINY_SCHEME) :] or "mllama").name
        return f"model {name}: tiny {family} (built offline on first use)"
    if Path(name).is_dir():
        return f"model {name}: local folder, backbone {detect_backbone(name).name}"
    if not HUB_ID.match(name):
        raise MissingFileError(f"model.name_or_path: {name} is neither a local folder nor a hub id (org/name)")
    info = hub.ask("model_info", name)  # metadata only, no weights
    if info is None:
        if cfg.model.backbone is None:
            raise ConfigError(f"model.backbone: set it for hub id {name} ({hub.note}: its config cannot be read)")
        return f"model {name}: hub id, backbone {get_backbone(cfg.model.backbone).name} (not contacted: {hub.note})"
    model_type = (info.config or {}).get("model_type") or cfg.model.backbone
    return f"model {name}: found on the hub, backbone {get_backbone(str(model_type)).name}"


def check_profile(cfg: TrainConfig) -> str:
    """The input profile the run will use (`model.profile`, else the one the checkpoint calls for),
    checked against the backbone; without a known backbone (a hub id offline) only its name."""
    from ..model.backbones import detect_backbone, get_backbone
    from ..model.profiles import check_profile as checked
    from ..model.profiles import detect_profile, get_profile

    name = cfg.model.name_or_path
    if cfg.model.backbone:
        backbone = get_backbone(cfg.model.backbone).name
    elif name.startswith(TINY_SCHEME):
        backbone = get_backbone(name[len(TINY_SCHEME) :] or "mllama").name
    elif Path(name).is_dir():
        backbone = detect_backbone(name).name
    else:
        return f"input profile: {get_profile(cfg.model.profile).name if cfg.model.profile else 'from the checkpoint'}"
    profile = checked(cfg.model.profile or detect_profile(name, backbone), backbone)
    return f"input profile: {profile.name} (max_length {cfg.model.max_length})"


def check_source(
    path: str,
    subsets: tuple[str, ...],
    negative_ratio: int,
    image_root: str | None,
    hub: Hub,
    builder: str | None = None,
) -> list[str]:
    lines = []
    to_example = row_to_example
    if builder:  # a published layout's pair builder (mme5.data.sources_v2)
        from ..data.sources_v2 import builder_for

        to_example = builder_for(builder)
    for subset in subsets or (None,):
        label = f"{path}{'/' + subset if subset else ''}"
        src = resolve_source(path, subset)
        if src.kind == "hub":
            lines.append(f"data {label}: hub dataset{_hub_subset_note(path, subset, hub)}")
            continue
        if src.kind == "hub-file":
            lines.append(f"data {label}: a file in a hub dataset repo (not downloaded by a dry run)")
            continue
        root = Path(image_root) if image_root else src.default_image_root
        rows = list(itertools.islice(READERS[src.kind](src, "train"), PEEK_ROWS))
        if not rows:
            raise ConfigError(f"data {label}: no rows")
        for where, row in rows:
            to_example(row, where=where, source=label, image_root=root, negative_ratio=negative_ratio)
        lines.append(f"data {label}: {src.kind}, first {len(rows)} rows parse")
    return lines


def _hub_subset_note(dataset: str, subset: str | None, hub: Hub) -> str:
    info = hub.ask("dataset_info", dataset)  # metadata only
    if info is None:
        released = RELEASED_SUBSETS.get(dataset)
        if released:
            _require_subset(dataset, subset, released, "released subsets")
        return f" (not contacted: {hub.note}{'; subset name is a released one' if released and subset else ''})"
    configs = [
        str(c["config_name"])
        for c in (getattr(info.card_data, "configs", None) or [])
        if isinstance(c, dict) and c.get("config_name")
    ]
    if configs:
        _require_subset(dataset, subset, configs, "subsets on the hub")
    return ", found on the hub"


def _require_subset(dataset: str, subset: str | None, names: Sequence[str], which: str) -> None:
    """An unknown subset is an error naming the closest names (case-insensitive)."""
    if subset is None or subset in names:
        return
    lower = {n.lower(): n for n in names}
    close = [lower[m] for m in difflib.get_close_matches(subset.lower(), lower, n=3)]
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ConfigError(f"{dataset}: no subset {subset!r}{hint} ({which}: {', '.join(names)})")


def dry_run(cfg: TrainConfig) -> list[str]:
    """Report lines; raises on the first problem."""
    validate(cfg)
    hub = Hub()
    lines = [check_model(cfg, hub), check_profile(cfg)]
    if cfg.task == "rerank":
        from .rerank import validate_rerank

        lines.append(validate_rerank(cfg))
    for source in cfg.data.sources:
        lines += check_source(
            source.path, source.subsets, cfg.data.negative_ratio, source.image_root, hub, source.builder
        )
    if not cfg.data.sources:
        raise ConfigError("data.sources is empty")
    if cfg.deepspeed:
        lines.append(f"deepspeed {cfg.deepspeed}: ZeRO stage {zero_stage(cfg.deepspeed)}")
    batch = cfg.per_device_batch_size * world_size()
    lines.append(
        f"batch: {cfg.per_device_batch_size} per device x {world_size()} devices = {batch} in-batch pool, "
        f"x {cfg.gradient_accumulation_steps} accumulation = {batch * cfg.gradient_accumulation_steps} per step; "
        f"GradCache chunk {cfg.gradcache_chunk_size or 'off'}; {cfg.data.negative_ratio} hard negatives per query"
    )
    return lines
