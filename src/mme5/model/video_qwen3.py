"""Qwen3-VL videos without torchvision: the video processor's sizing, per-frame-group timestamps.

`Qwen3VLVideoProcessor` (transformers 5.24) differs from the Qwen2-VL path in three ways, all
reproduced here for a list of frames:
- sizing: one `smart_resize` over the whole clip (`t * h * w` within the video processor's
  `size` min/max pixels, factor patch x merge), not per image;
- normalisation: the video processor's own mean/std (0.5 by default, as Qwen3-VL's images);
- text: each temporal group of `<|video_pad|>` becomes `<{t:.1f} seconds>` +
  `<|vision_start|>` + pads (gh*gw/merge^2) + `<|vision_end|>`, with `t` the mean timestamp of
  the group's first and last frame (`Qwen3VLProcessor._calculate_timestamps`).
Frames given as a list carry no metadata: the official processor then takes frame indices
0..n-1 at 24 fps (its stated default); mme5 keeps all the frames it sampled (`do_sample_frames`
off: the official default would resample a frame list at 2 fps, i.e. to 4 frames).
Settings come from the model's `video_preprocessor_config.json` when it has one, else from
`Qwen3VLVideoProcessor`'s class defaults (importable without torchvision); patch, temporal and
merge sizes are the image processor's (the vision tower's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..types import InputError
from .video import video_patches

FPS_WITHOUT_METADATA = 24.0
"""`Qwen3VLProcessor.replace_video_token`'s fps when frames come without video metadata."""

VIDEO_CONFIG_FILE = "video_preprocessor_config.json"


@cache
def read_video_config(source: str) -> dict[str, Any]:
    """The checkpoint's video processor settings (`{}` when it has none): a folder or a hub id;
    read once per checkpoint (the result is shared: do not modify it)."""
    path = Path(source) / VIDEO_CONFIG_FILE
    if not path.is_file():
        try:
            from transformers.utils import cached_file

            found = cached_file(source, VIDEO_CONFIG_FILE, _raise_exceptions_for_missing_entries=False)
        except Exception:  # offline, no such repo: the class defaults apply
            return {}
        if found is None:
            return {}
        path = Path(found)
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def video_settings(processor: Any) -> dict[str, Any]:
    """size (min/max pixels over the clip), mean, std and resample of the Qwen3-VL video processor."""
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor as Defaults

    source = getattr(getattr(processor, "tokenizer", None), "name_or_path", "")  # the checkpoint
    config = read_video_config(str(source)) if source else {}
    size = config.get("size") or Defaults.size
    return {
        "min_pixels": int(size["shortest_edge"]),
        "max_pixels": int(size["longest_edge"]),
        "image_mean": list(config.get("image_mean") or Defaults.image_mean),
        "image_std": list(config.get("image_std") or Defaults.image_std),
        "resample": int(config.get("resample", Defaults.resample)),
    }


def target_size(frames: Sequence[Image.Image], image_processor: Any, settings: dict[str, Any]) -> tuple[int, int]:
    """(height, width) of every frame: the video `smart_resize` of the first frame over the clip."""
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    temporal = image_processor.temporal_patch_size
    return smart_resize(
        max(len(frames), temporal),  # one frame is padded to a pair, as patchify does
        frames[0].height,
        frames[0].width,
        temporal_factor=temporal,
        factor=image_processor.patch_size * image_processor.merge_size,
        min_pixels=settings["min_pixels"],
        max_pixels=settings["max_pixels"],
    )


def timestamps(
    num_frames: int, temporal: int, fps: float = FPS_WITHOUT_METADATA, indices: Sequence[int] | None = None
) -> list[float]:
    """Seconds of each temporal group: mean of its first and last frame (last index repeated);
    frame indices 0..n-1 unless the video's metadata gives them."""
    idx = list(indices) if indices is not None else list(range(num_frames))
    idx += [idx[-1]] * (-len(idx) % temporal)
    return [(idx[i] + idx[i + temporal - 1]) / 2 / fps for i in range(0, len(idx), temporal)]


def video_placeholder(processor: Any, grid: Sequence[int], num_frames: int, metadata: Any = None) -> str:
    """The text one `<|video_pad|>` expands to: per group, its timestamp and its framed pads
    (`metadata`: the video's fps and frame indices, a dict or transformers' VideoMetadata)."""
    pads = processor.video_token * (int(grid[1]) * int(grid[2]) // processor.image_processor.merge_size**2)
    framed = processor.vision_start_token + pads + processor.vision_end_token
    meta = metadata if isinstance(metadata, dict) else vars(metadata) if metadata is not None else {}
    fps = meta.get("fps") or FPS_WITHOUT_METADATA
    times = timestamps(num_frames, processor.image_processor.temporal_patch_size, fps, meta.get("frames_indices"))
    return "".join(f"<{t:.1f} seconds>" + framed for t in times)


def process_videos(
    processor: Any, videos: Any, *, do_resize: bool | None = None, video_metadata: Any = None, **_: Any
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`ProcessorMixin._process_videos` for the torchvision-free Qwen3-VL processor; with
    `do_resize=False` the frames keep their size (already resized, e.g. by mme5.model.qwen_vision)."""
    settings = video_settings(processor)
    ip = processor.image_processor
    parts = []
    for video in videos:
        frames = [f.convert("RGB") for f in video]
        if not frames:
            raise InputError("a video needs at least one frame")
        size = (frames[0].height, frames[0].width) if do_resize is False else target_size(frames, ip, settings)
        parts.append(
            video_patches(
                frames,
                ip,
                size=size,
                resample=settings["resample"],
                image_mean=settings["image_mean"],
                image_std=settings["image_std"],
            )
        )
    data = {
        "pixel_values_videos": torch.from_numpy(np.concatenate([p for p, _ in parts])),
        "video_grid_thw": torch.tensor([g for _, g in parts], dtype=torch.long),
    }
    metas = list(video_metadata) if video_metadata is not None else [None] * len(videos)
    texts = [video_placeholder(processor, g, len(v), m) for (_, g), v, m in zip(parts, videos, metas)]
    return data, texts
