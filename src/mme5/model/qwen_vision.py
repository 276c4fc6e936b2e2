"""The image and video resizing of qwen-vl-utils 0.0.14, without torchvision (spec
qwen3_vl_family.md §3).

Qwen3-VL-Embedding resizes every image and video before its processor sees them (the processor
then runs with `do_resize=False`), through qwen-vl-utils' `process_vision_info(...,
image_patch_size=16)`. That library imports torchvision at module level, which does not import
beside the CPU torch here, so its arithmetic is written out again:

- images: RGB (RGBA composited on white), `smart_resize` with factor 32 and the part's pixel
  bounds, Pillow's bicubic resize;
- frame lists: each frame through the image path with factor 64 (the release passes the factor
  where the patch size is expected) and the default bounds, padded to an even count with the last
  frame, then the clip resized to one `smart_resize(factor 32)` size whose per-frame budget is
  `max(min(768*32*32, total_pixels / n * 2), int(128*32*32 * 1.05))`, bicubic with antialias on
  the uint8 frames (rounded back to uint8); metadata fps 2.0, indices 0..n-1 (padding included);
- video files: `fps` 1 and at most `max_frames` 64 frames picked with
  `linspace(0, N-1, n).round()`, the real fps and indices as metadata, the same clip resize with
  the default `total_pixels` (128,000 * 32 * 32 * 0.9; the embedder passes none for files).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..media_policy import DEFAULT_POLICY, DecodeBudget, MediaPolicy, check_bytes, check_pixels, refuse
from ..types import ImageLike, InputError

FACTOR = 32
"""patch 16 x spatial merge 2."""
MIN_PIXELS = 4 * FACTOR * FACTOR
MAX_PIXELS = 1800 * FACTOR * FACTOR
"""Qwen3-VL-Embedding's image bounds: 4,096 and 1,843,200 pixels."""
MAX_FRAMES = 64
FPS = 1.0
TOTAL_PIXELS = 10 * 768 * FACTOR * FACTOR
"""7,864,320: the pixel budget of a frame-list video over all its frames."""
MAX_RATIO = 200
FRAME_LIST_FPS = 2.0
"""The fps qwen-vl-utils fakes for a list of frames (timestamps derive from it)."""
VIDEO_MIN_TOKENS, VIDEO_MAX_TOKENS = 128, 768
IMAGE_MIN_TOKENS, IMAGE_MAX_TOKENS = 4, 16384
MODEL_SEQ_LEN = int(float(os.environ.get("MODEL_SEQ_LEN", 128000)))
"""qwen-vl-utils' default `total_pixels` for a video is MODEL_SEQ_LEN * factor^2 * 0.9 (same env var)."""


def smart_resize(
    height: int, width: int, factor: int = FACTOR, min_pixels: int | None = None, max_pixels: int | None = None
) -> tuple[int, int]:
    """(h, w), both multiples of `factor`, near the aspect ratio, within [min_pixels, max_pixels]
    (defaults: 4 and 16,384 tokens of factor^2). Python's round (half to even) as the library."""
    max_pixels = IMAGE_MAX_TOKENS * factor**2 if max_pixels is None else max_pixels
    min_pixels = IMAGE_MIN_TOKENS * factor**2 if min_pixels is None else min_pixels
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise InputError(f"an image's aspect ratio must be below {MAX_RATIO}, got {height}x{width}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h, w


def open_image(image: ImageLike, where: str = "", policy: MediaPolicy = DEFAULT_POLICY) -> Image.Image:
    """A path, bytes or PIL image opened as it is stored (alpha kept, for `to_rgb`); files within
    `policy`'s byte and pixel limits, checked before the pixels are decoded."""
    if isinstance(image, Image.Image):
        return image
    try:
        if isinstance(image, (bytes, bytearray)):
            check_bytes(len(image), where, policy, "image")
        elif Path(image).is_file():
            check_bytes(Path(image).stat().st_size, where, policy, "image")
        img = Image.open(io.BytesIO(image) if isinstance(image, (bytes, bytearray)) else Path(image))
        check_pixels(img.width, img.height, where, policy)
        img.load()
    except FileNotFoundError:
        raise InputError(f"{where}: image file not found: {image!s}") from None
    except InputError:
        raise
    except Exception as exc:  # PIL raises many types for corrupt data
        raise InputError(f"{where}: cannot read image: {exc}") from exc
    return img


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB as qwen-vl-utils makes it: an RGBA image pasted on white through its alpha."""
    if image.mode == "RGBA":
        out = Image.new("RGB", image.size, (255, 255, 255))
        out.paste(image, mask=image.split()[3])
        return out
    return image.convert("RGB")


def resize_image(
    image: ImageLike,
    factor: int = FACTOR,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    where: str = "",
    policy: MediaPolicy = DEFAULT_POLICY,
) -> Image.Image:
    """qwen-vl-utils' `fetch_image`: RGB, then `smart_resize`, then Pillow's default (bicubic) resize."""
    rgb = to_rgb(open_image(image, where, policy))
    h, w = smart_resize(rgb.height, rgb.width, factor, min_pixels, max_pixels)
    return rgb.resize((w, h))


def frame_budget(num_frames: int, total_pixels: float = TOTAL_PIXELS, factor: int = FACTOR) -> int:
    """Per-frame max pixels of a clip of `num_frames` (already padded to even): the worked values
    are 245,760 for 64 frames and 786,432 for 16 or 8."""
    min_pixels = VIDEO_MIN_TOKENS * factor * factor
    return int(max(min(VIDEO_MAX_TOKENS * factor * factor, total_pixels / num_frames * 2), int(min_pixels * 1.05)))


def positions(width: int, height: int, frames: int = 0) -> int:
    """Visual positions an image (`frames` 0) or a frame-list clip becomes after this resizing: one
    per merged `FACTOR` x `FACTOR` patch, a clip one frame's worth per pair of frames (timestamps
    not counted). The planner's estimate (mme5.model.planning); 0 for a shape the resize refuses."""
    try:
        if not frames:
            h, w = smart_resize(height, width, FACTOR, MIN_PIXELS, MAX_PIXELS)
            return h * w // FACTOR**2
        n = frames + frames % 2
        h, w = smart_resize(height, width, FACTOR, VIDEO_MIN_TOKENS * FACTOR**2, frame_budget(min(n, MAX_FRAMES)))
        return min(n, MAX_FRAMES) // 2 * (h * w // FACTOR**2)
    except InputError:
        return 0


@dataclass(frozen=True)
class Video:
    """A resized clip as the processor gets it: uint8 (T, H, W, 3) frames and their metadata."""

    frames: np.ndarray
    fps: float
    indices: tuple[int, ...]

    def timestamps(self, merge: int = 2) -> list[float]:
        """Seconds of each temporal group: the mean of its first and last frame's time, as
        `Qwen3VLProcessor._calculate_timestamps` computes them (odd counts repeat the last index)."""
        idx = list(self.indices) + [self.indices[-1]] * (-len(self.indices) % merge)
        t = [i / self.fps for i in idx]
        return [(t[i] + t[i + merge - 1]) / 2 for i in range(0, len(t), merge)]


def pick_frames(frames: Sequence[ImageLike], max_frames: int = MAX_FRAMES) -> list[ImageLike]:
    """Qwen3-VL-Embedding's frame-list sampling: `linspace(0, n-1, max_frames, dtype=int)` when
    there are more, else all."""
    if len(frames) <= max_frames:
        return list(frames)
    return [frames[i] for i in np.linspace(0, len(frames) - 1, max_frames, dtype=int).tolist()]


def resize_clip(video: np.ndarray, total_pixels: float, factor: int = FACTOR) -> np.ndarray:
    """(T, H, W, 3) uint8 -> the clip at one `smart_resize` size within the per-frame budget, bicubic
    with antialias on float values, clamped and rounded back to uint8 (torchvision's uint8 path)."""
    n, height, width = video.shape[:3]
    min_pixels = VIDEO_MIN_TOKENS * factor * factor
    h, w = smart_resize(height, width, factor, min_pixels, frame_budget(n, total_pixels, factor))
    import torch  # here, not at import: the CLI's parser imports the profiles without torch

    x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=[h, w], mode="bicubic", align_corners=False, antialias=True)
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def frame_list_video(
    frames: Sequence[ImageLike],
    total_pixels: float = TOTAL_PIXELS,
    max_frames: int = MAX_FRAMES,
    where: str = "",
    policy: MediaPolicy = DEFAULT_POLICY,
) -> Video:
    """A list of frames as Qwen3-VL-Embedding passes it: at most `max_frames` picked, each frame
    pre-resized (factor 64, default bounds), padded to even, the clip resized; fps 2.0, 0..n-1.
    Frames that resize to another size than the first (mixed orientations, where qwen-vl-utils'
    stack fails) are brought to the first frame's size, as mme5.media does for every video."""
    if not frames:
        raise InputError(f"{where}: a video needs at least one frame")
    images = [
        resize_image(f, factor=2 * FACTOR, where=f"{where} frame {i}", policy=policy)
        for i, f in enumerate(pick_frames(frames, max_frames))
    ]
    images = [im if im.size == images[0].size else im.resize(images[0].size) for im in images]
    images += images[-1:] * (len(images) % 2)
    stacked = np.stack([np.asarray(im) for im in images])
    return Video(resize_clip(stacked, total_pixels), FRAME_LIST_FPS, tuple(range(len(images))))


def file_frame_count(total: int, video_fps: float, fps: float = FPS, max_frames: int = MAX_FRAMES) -> int:
    """qwen-vl-utils' `smart_nframes` for an `fps` request: duration * fps within [4, max_frames]
    (both to even), at most `total`, floored to even."""
    low = math.ceil(4 / 2) * 2
    high = math.floor(min(max_frames, total) / 2) * 2
    n = min(min(max(total / video_fps * fps, low), high), total)
    n = math.floor(n / 2) * 2
    if not 2 <= n <= total:
        raise InputError(f"a video of {total} frames is too short to sample at {fps} fps (needs 2)")
    return n


def video_file(
    source: str | Path | bytes,
    fps: float = FPS,
    max_frames: int = MAX_FRAMES,
    total_pixels: float = MODEL_SEQ_LEN * FACTOR * FACTOR * 0.9,
    where: str = "",
    policy: MediaPolicy = DEFAULT_POLICY,
) -> Video:
    """A video file as Qwen3-VL-Embedding passes it (decoded with PyAV): `file_frame_count` frames at
    `linspace(0, N-1, n).round()`, the clip resized; metadata: the file's fps and those indices.

    Within `policy` (mme5.media_policy): bytes, frames (packets counted before any decoding), every
    decoded frame's size before conversion, decoded pixels and time; only the picked frames are kept."""
    import av

    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, (bytes, bytearray)):
        check_bytes(len(source), where, policy, "video")
    elif Path(source).is_file():
        check_bytes(Path(source).stat().st_size, where, policy, "video")
    budget = DecodeBudget(policy, where)
    try:
        with av.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)) as container:
            stream = container.streams.video[0]
            total = 0
            for packet in container.demux(stream):
                total += 1 if packet.size else 0
                if total > policy.max_frames:
                    raise refuse(where, f"the video has more than {policy.max_frames} frames", "max_frames", policy)
                budget.tick()
            video_fps = float(stream.average_rate or 0)
            if not total or video_fps <= 0:
                raise InputError(f"{where}: video {name} has no frames or no frame rate")
            idx = _pick(total, file_frame_count(total, video_fps, fps, max_frames))
            kept, decoded = _decode(container, stream, set(idx), budget)
            if len(kept) < len(set(idx)):  # fewer frames decode than the stream has packets: pick again
                idx = _pick(decoded, file_frame_count(decoded, video_fps, fps, max_frames))
                kept, _ = _decode(container, stream, set(idx), budget)
    except InputError:
        raise
    except Exception as exc:  # PyAV raises FFmpegError subclasses, IndexError without a stream, ...
        raise InputError(f"{where}: cannot decode video {name}: {exc}") from exc
    return Video(resize_clip(np.stack([kept[i] for i in idx]), total_pixels), video_fps, tuple(idx))


def _decode(container: Any, stream: Any, wanted: set[int], budget: DecodeBudget) -> tuple[dict[int, np.ndarray], int]:
    """(the wanted frames as RGB arrays, frames decoded) from the start; every decoded frame is
    measured against the budget before it is converted, and decoding stops after the last wanted."""
    container.seek(0)
    kept: dict[int, np.ndarray] = {}
    count = 0
    for count, frame in enumerate(container.decode(stream), 1):
        budget.spend(frame.width, frame.height)
        if count - 1 in wanted:
            kept[count - 1] = frame.to_ndarray(format="rgb24")
        if len(kept) == len(wanted):
            break
    return kept, count


def _pick(total: int, n: int) -> list[int]:
    """qwen-vl-utils' frame indices: `torch.linspace(0, total - 1, n).round()` (numpy rounds some
    differently, so torch does it, imported here: the CLI's parser imports the profiles without it)."""
    import torch

    return torch.linspace(0, total - 1, n).round().long().tolist()
