"""Videos for the Qwen-VL families without torchvision, and the image-only fallback.

transformers' Qwen2-VL video processor needs torchvision, which does not install beside the CPU
torch here. Its arithmetic is the image processor's: every frame is resized to the `smart_resize`
size of the first frame (factor patch x merge, the min/max pixels), rescaled and normalised, and
frames are grouped in temporal pairs (`temporal_patch_size`, the last frame repeated when the
count is odd), each pair flattened as (C, T, patch, patch) in the image's patch order. So this
module runs the image processor on the frames and interleaves pairs itself: a video of two
identical frames gives exactly that image's `pixel_values`, and 8 frames give grid_t = 4.

Qwen3-VL sizes, normalises and marks up videos its own way (`mme5.model.video_qwen3`).

Image-only backbones (Mllama, Idefics3, LLaVA-NeXT) get VLM2Vec's off-protocol fallback: the
middle sampled frame (`frames[len // 2]`) encoded as the item's image (`VIDEO_FALLBACK`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..media import load_frames, page_item
from ..media_policy import DEFAULT_POLICY, MediaPolicy
from ..types import InputError, Item

log = logging.getLogger(__name__)

VIDEO_NATIVE = "native"
VIDEO_FALLBACK = "middle-frame"
"""Off-protocol: an image-only backbone sees the middle of the 8 sampled frames as an image."""


def video_mode(backbone: Any) -> str:
    """How `backbone` receives videos: natively (frames as a video) or through the middle frame."""
    return VIDEO_NATIVE if backbone.video_text is not None else VIDEO_FALLBACK


def video_text(backbone: Any) -> str:
    """The markup a video item's text starts with: the video tokens, or the image tokens of the
    middle-frame fallback."""
    return backbone.video_text if backbone.video_text is not None else backbone.image_text


def frames_for(item: Item, where: str, policy: MediaPolicy = DEFAULT_POLICY) -> list[Image.Image] | None:
    """The sampled frames of a video item (None without a video); an image and a video together
    are refused (no MMEB task or training row has both)."""
    if not item.has_video:
        return None
    if item.has_image:
        raise InputError(f"{where}: an item takes an image or a video, not both")
    return load_frames(item.video, where, policy=policy)  # type: ignore[arg-type]


def middle_frame_item(item: Item, frames: list[Image.Image]) -> Item:
    """The fallback item: the video replaced by its middle sampled frame as the image."""
    return replace(item, video=None, image=frames[len(frames) // 2])


_warned: set[str] = set()


MEDIA_STANDIN = "<media>"
"""Stands in for a PDF page or a fallback video frame when a text is formatted before media load."""


def as_formatted(item: Item, backbone: Any) -> Item:
    """The item as the formatter sees it after `apply_fallback`, without loading anything: a PDF
    page is an image; so is a video on an image-only backbone."""
    if item.pdf is not None:
        return replace(item, pdf=None, page=None, image=MEDIA_STANDIN)
    if item.has_video and video_mode(backbone) != VIDEO_NATIVE:
        return replace(item, video=None, image=MEDIA_STANDIN)
    return item


def apply_fallback(
    items: Sequence[Item], backbone: Any, where: Sequence[str], policy: MediaPolicy = DEFAULT_POLICY
) -> tuple[list[Item], list[list[Image.Image] | None]]:
    """Media the processor cannot take as they are -> (items for the formatter, frames per item):
    PDF page items get their rendered page as the image; native backbones keep their videos,
    image-only ones get the middle frame as the image (logged once per backbone as off-protocol).
    Media are read within `policy` (mme5.media_policy)."""
    items = [page_item(item, where[i], policy=policy) if item.pdf is not None else item for i, item in enumerate(items)]
    frames = [frames_for(item, where[i], policy) for i, item in enumerate(items)]
    if video_mode(backbone) == VIDEO_NATIVE or not any(f is not None for f in frames):
        return list(items), frames
    if backbone.name not in _warned:
        _warned.add(backbone.name)
        log.warning(
            "%s takes no videos: each video is encoded as its middle frame (%s, off-protocol)",
            backbone.name,
            VIDEO_FALLBACK,
        )
    out = [middle_frame_item(item, f) if f is not None else item for item, f in zip(items, frames)]
    return out, [None] * len(items)


def _target_size(first: Image.Image, image_processor: Any) -> tuple[int, int]:
    """(height, width) the image processor would resize the first frame to."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    size = image_processor.size
    factor = image_processor.patch_size * image_processor.merge_size
    return smart_resize(
        first.height, first.width, factor=factor, min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"]
    )


def video_patches(
    frames: Sequence[Image.Image],
    image_processor: Any,
    size: tuple[int, int] | None = None,
    resample: int | None = None,
    **image_kwargs: Any,
) -> tuple[np.ndarray, list[int]]:
    """One video -> (patches (grid_t*gh*gw, C*T*p*p) float32, [grid_t, gh, gw]); `size` (h, w)
    given: every frame resized to it here (`resample`), the image processor only patchifies."""
    if not frames:
        raise InputError("a video needs at least one frame")
    frames = [f.convert("RGB") for f in frames]
    if size is not None:
        h, w = size
        how = image_processor.resample if resample is None else resample
        frames = [f if f.size == (w, h) else f.resize((w, h), how) for f in frames]
        out = image_processor(images=frames, do_resize=False, return_tensors="np", **image_kwargs)
    else:
        h, w = _target_size(frames[0], image_processor)
        first = frames[0].size
        # Frames the size of the first one are resized by the image processor exactly as an image
        # would be; others go straight to the first frame's target size (the processor keeps it).
        frames = [f if f.size == first else f.resize((w, h), image_processor.resample) for f in frames]
        out = image_processor(images=frames, return_tensors="np", **image_kwargs)
    grids = np.asarray(out["image_grid_thw"])
    if not (grids == grids[0]).all() or grids[0][0] != 1:
        raise InputError(f"video frames did not resize to one size: grids {grids.tolist()}")
    t, p = image_processor.temporal_patch_size, image_processor.patch_size
    n = int(grids[0][1] * grids[0][2])
    per_frame = np.asarray(out["pixel_values"], dtype=np.float32).reshape(len(frames), n, 3, t, p, p)[:, :, :, 0]
    if pad := -len(frames) % t:  # the last frame repeated, as the Qwen video processor does
        per_frame = np.concatenate([per_frame, np.repeat(per_frame[-1:], pad, axis=0)])
    groups = per_frame.reshape(-1, t, n, 3, p, p).transpose(0, 2, 3, 1, 4, 5)  # (gt, n, C, T, p, p)
    grid = [groups.shape[0], int(grids[0][1]), int(grids[0][2])]
    return np.ascontiguousarray(groups.reshape(grid[0] * n, 3 * t * p * p)), grid


def qwen_video_inputs(videos: Sequence[Sequence[Image.Image]], image_processor: Any) -> dict[str, torch.Tensor]:
    """Videos -> the Qwen video processor's outputs: `pixel_values_videos`, `video_grid_thw`."""
    parts = [video_patches(v, image_processor) for v in videos]
    return {
        "pixel_values_videos": torch.from_numpy(np.concatenate([p for p, _ in parts])),
        "video_grid_thw": torch.tensor([g for _, g in parts], dtype=torch.long),
    }


def process_videos(processor: Any, videos: Any, **kwargs: Any) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`ProcessorMixin._process_videos` for the torchvision-free Qwen2(.5)-VL processors: the inputs
    and one `<|video_pad|>` run per video (grid_t*gh*gw / merge^2 tokens)."""
    data = qwen_video_inputs([list(v) for v in videos], processor.image_processor)
    merge = processor.image_processor.merge_size**2
    return data, [processor.video_token * int(g.prod() // merge) for g in data["video_grid_thw"]]


def official_video_processor(image_processor: Any) -> Any | None:
    """transformers' Qwen2-VL video processor with the image processor's settings, or None where
    it cannot be imported (no torchvision)."""
    try:
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        return Qwen2VLVideoProcessor(
            size=dict(image_processor.size),
            patch_size=image_processor.patch_size,
            temporal_patch_size=image_processor.temporal_patch_size,
            merge_size=image_processor.merge_size,
            do_sample_frames=False,
        )
    except Exception:  # ImportError, or torchvision's own operator-registration failure
        return None
