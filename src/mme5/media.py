"""Videos and PDFs as model inputs: frames from a frame list, a frame folder or a video file
(decoded with PyAV), and PDF pages rendered with pypdfium2 (mme5.pdf_pages), all within a
MediaPolicy (mme5.media_policy): every decoded frame is measured before it is converted, decoding
stops at its time and pixel budgets, and only the packets of the groups of pictures that hold a
wanted frame are decoded. Frames of one video are resized to the first frame's size here, so no
processor ever sees frames of different sizes.

Frame protocol (MMEB-V2, VLM2Vec, spec mmeb_v2.md §3): a video file yields at most
`EXTRACT_FRAMES` = 64 evenly spaced frames (`floor(i*N/64)`, all when N <= 64); a folder lists
jpg/jpeg/png in natural order; then `SAMPLED_FRAMES` = 8 are taken with
`np.linspace(0, n-1, 8, dtype=int)` (first and last kept; fewer than 8 -> all, no padding).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .media_policy import DEFAULT_POLICY, DecodeBudget, MediaPolicy, check_bytes, check_pixels, refuse
from .pdf_pages import PDF_DPI, open_pdf, pdf_page_count, render_pages
from .types import InputError, Item, PdfLike, VideoLike, load_image

__all__ = ["PDF_DPI", "pdf_page_count", "render_pages"]  # re-exported: media is where callers look for them

EXTRACT_FRAMES = 64
SAMPLED_FRAMES = 8
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders `frame_2` before `frame_10` (digit runs compare as numbers)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def sample_indices(n: int, k: int | None = SAMPLED_FRAMES) -> list[int]:
    """`linspace(0, n-1, k, dtype=int)` when n >= k, else all n indices (VLM2Vec's sampler)."""
    if k is None or n < k:
        return list(range(n))
    return np.linspace(0, n - 1, k, dtype=int).tolist()


def extract_indices(total: int, limit: int = EXTRACT_FRAMES) -> list[int]:
    """Frame numbers pulled from a video of `total` frames: all if total <= limit, else floor(i*N/limit)."""
    if total <= limit:
        return list(range(total))
    return [i * total // limit for i in range(limit)]


def frame_files(folder: str | Path, where: str = "") -> list[Path]:
    """The jpg/jpeg/png files of a frame folder in natural order; InputError when there are none."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    if not files:
        raise InputError(f"{_prefix(where)}frame folder {folder} has no jpg/jpeg/png frames")
    return sorted(files, key=lambda p: natural_key(p.name))


def load_frames(
    video: VideoLike,
    where: str = "",
    num_frames: int | None = SAMPLED_FRAMES,
    policy: MediaPolicy = DEFAULT_POLICY,
) -> list[Image.Image]:
    """The RGB frames the encoder sees for `video`, sampled to `num_frames` (None keeps all), all
    the size of the first one; every limit of `policy` applies (frames, pixels, bytes, time)."""
    if isinstance(video, (list, tuple)) or (isinstance(video, (str, Path)) and Path(video).is_dir()):
        listed: list[Any] = list(video) if isinstance(video, (list, tuple)) else frame_files(video, where)
        if not listed:
            raise InputError(f"{_prefix(where)}video has no frames")
        if len(listed) > policy.max_frames:
            raise refuse(where, f"the video has {len(listed)} frames", "max_frames", policy)
        budget = policy.budget(where)
        frames = []
        for i in sample_indices(len(listed), num_frames):
            frame = load_image(listed[i], f"{where} frame {i}" if isinstance(video, (list, tuple)) else where, policy)
            if not isinstance(listed[i], Image.Image):  # a PIL frame was checked (or decoded) by whoever made it
                budget.spend(frame.width, frame.height)
            frames.append(frame)
        return same_size(frames)
    return same_size(decode_video(video, where, num_frames, policy))


def same_size(frames: list[Image.Image]) -> list[Image.Image]:
    """Every frame resized (bicubic) to the first frame's size: one video, one frame size."""
    if not frames:
        return frames
    size = frames[0].size
    return [f if f.size == size else f.resize(size, Image.Resampling.BICUBIC) for f in frames]


def decode_video(
    source: str | Path | bytes,
    where: str = "",
    num_frames: int | None = SAMPLED_FRAMES,
    policy: MediaPolicy = DEFAULT_POLICY,
) -> list[Image.Image]:
    """Decode a video file (path or bytes) with PyAV: 64 evenly spaced frames, then `num_frames`.

    The packets are read first (counted against max_frames: a header's frame count is not trusted),
    then only the groups of pictures holding a wanted frame are decoded, and each decoded frame is
    measured (and counted into the budget) before anything converts it."""
    import av

    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InputError(f"{_prefix(where)}video file not found: {source}")
    check_bytes(
        len(source) if isinstance(source, (bytes, bytearray)) else Path(source).stat().st_size, where, policy, "video"
    )
    budget = policy.budget(where)
    try:
        with av.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)) as container:
            if not container.streams.video:
                raise InputError(f"{_prefix(where)}{name} has no video stream")
            stream = container.streams.video[0]
            context = stream.codec_context
            if context.width and context.height:  # a header that tells the truth is refused before decoding
                check_pixels(context.width, context.height, where, policy, "each video frame")
            packets = _packets(container, stream, budget)
            if not packets:
                raise InputError(f"{_prefix(where)}video {name} has no frames")
            extracted = extract_indices(len(packets))
            wanted = sorted({extracted[i] for i in sample_indices(len(extracted), num_frames)})
            frames = _decode_wanted(context, packets, wanted, budget)
    except InputError:
        raise
    except Exception as exc:  # PyAV raises FFmpegError subclasses, ValueError, ...
        raise InputError(f"{_prefix(where)}cannot decode video {name}: {exc}") from exc
    if not frames:
        raise InputError(f"{_prefix(where)}video {name} has no decodable frames")
    return frames


def _packets(container: Any, stream: Any, budget: DecodeBudget) -> list[Any]:
    """The stream's non-empty packets in decode order (no decoding), at most max_frames of them."""
    packets = []
    for packet in container.demux(stream):
        if packet.size:
            packets.append(packet)
            if len(packets) > budget.policy.max_frames:
                raise refuse(
                    budget.where, f"the video has more than {len(packets) - 1} frames", "max_frames", budget.policy
                )
            if len(packets) % 256 == 0:
                budget.tick()
    return packets


def _decode_wanted(context: Any, packets: list[Any], wanted: list[int], budget: DecodeBudget) -> list[Image.Image]:
    """Frames number `wanted` (presentation order) as RGB. A frame is the one whose packet has the
    k-th smallest pts; only the groups of pictures (keyframe to keyframe) holding one are decoded, and
    decoding stops once every wanted frame is out. Without timestamps every packet is decoded in order."""
    pts = [p.pts for p in packets]
    if any(t is None for t in pts) or len(set(pts)) != len(pts):
        groups = [list(range(len(packets)))]
        by_pts = None
    else:
        starts = [i for i, p in enumerate(packets) if p.is_keyframe or i == 0]
        bounds = [*starts, len(packets)]
        groups = [list(range(bounds[g], bounds[g + 1])) for g in range(len(starts))]
        order = sorted(pts)
        by_pts = {order[k]: k for k in wanted}
        group_of = {pts[i]: g for g, members in enumerate(groups) for i in members}
        needed = sorted({group_of[order[k]] for k in wanted})
        groups = [groups[g] for g in needed]
    wanted_set, out = set(wanted), dict[int, Image.Image]()
    seen = 0  # frames out so far (the index when there are no timestamps)
    previous_end = 0
    for members in groups:
        if members[0] != previous_end:  # a gap: drain the decoder and start clean at this keyframe
            for frame in context.decode(None):
                seen = _take(frame, seen, by_pts, wanted_set, out, budget)
            context.flush_buffers()
        previous_end = members[-1] + 1
        for i in members:
            for frame in context.decode(packets[i]):
                seen = _take(frame, seen, by_pts, wanted_set, out, budget)
            if len(out) == len(wanted_set):
                return [out[k] for k in sorted(out)]
    for frame in context.decode(None):
        seen = _take(frame, seen, by_pts, wanted_set, out, budget)
    return [out[k] for k in sorted(out)]


def _take(
    frame: Any, seen: int, by_pts: dict[int, int] | None, wanted: set[int], out: dict, budget: DecodeBudget
) -> int:
    """Measure one decoded frame (size, budget, clock) and keep it as RGB if it is wanted."""
    budget.spend(frame.width, frame.height, f"frame {seen}")
    index = seen if by_pts is None else by_pts.get(frame.pts, -1)
    if index in wanted and index not in out:
        out[index] = frame.to_image().convert("RGB")
    return seen + 1


def pdf_pages(
    source: PdfLike, where: str = "", dpi: int = PDF_DPI, policy: MediaPolicy = DEFAULT_POLICY
) -> list[Image.Image]:
    """Every page of a PDF rendered to RGB at `dpi`."""
    return render_pages(source, where, dpi, policy=policy)


def page_item(item: Item, where: str = "", dpi: int = PDF_DPI, policy: MediaPolicy = DEFAULT_POLICY) -> Item:
    """A PDF-page item (`pdf` + `page`) -> the same item with the rendered page as its image (the
    document stays open for the next page: mme5.pdf_pages)."""
    if item.page is None:
        raise InputError(
            f"{_prefix(where)}a PDF item needs a page number here; expand it into pages first "
            "(mme5.media.expand_pdfs: one item per page)"
        )
    if item.has_image or item.has_video:
        raise InputError(f"{_prefix(where)}a PDF page item cannot also carry an image or a video")
    image = open_pdf(item.pdf, where, policy).render(item.page, where, policy, dpi)  # type: ignore[arg-type]
    return replace(item, pdf=None, page=None, image=image)


def expand_pdfs(
    items: Sequence[Item], where: Sequence[str] | None = None, policy: MediaPolicy = DEFAULT_POLICY
) -> list[tuple[int, int | None, Item]]:
    """Replace each whole-PDF item by one page item per page: (source index, page number from 1,
    or None for any other item, item). Pages are rendered when encoded, a batch at a time."""
    out: list[tuple[int, int | None, Item]] = []
    for i, item in enumerate(items):
        if item.pdf is None or item.page is not None:
            out.append((i, item.page, item))
            continue
        w = where[i] if where is not None else f"item {i}"
        pages = pdf_page_count(item.pdf, w, policy)
        out.extend((i, page, replace(item, page=page)) for page in range(1, pages + 1))
    return out


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""
