"""Videos and PDFs on the wire, under the server's MediaPolicy like images: what each will cost is
estimated from headers first (the PyAV stream header, the PDF page boxes in points) and counted into
the request's decoded pixels; a video is then decoded by mme5.media, which measures every decoded
frame (a header may lie) and stops at the policy's frame, pixel and time budgets.

A video is a list of frames (each a data URL, or a path under --image-root), or one source: a
`data:video/...;base64,` URL, a video file or a frame folder under --image-root. A PDF is a
`data:application/pdf;base64,` URL or a path under --image-root; it becomes one vector per page.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from ..media import extract_indices, frame_files, load_frames, sample_indices
from ..media_policy import check_pixels
from ..model.qwen_vision import MAX_FRAMES as PROFILE_MAX_FRAMES
from ..pdf_pages import PdfDocument
from ..types import InputError, Item
from .errors import RequestError
from .sources import InputPolicy, image_source, media_refusal, read_bytes


@dataclass(frozen=True)
class Pending:
    """A checked video or PDF: the decoded pixels it will cost, the vectors it yields (pages),
    and how to finish the item once the whole request is within its limits."""

    pixels: int
    rows: int
    finish: Callable[[Item], Item]


OpenImage = Callable[[str, str], Image.Image]
"""An image opener (data URL / path under the root / URL; header checked): serving.sources.image_source."""
Reader = Callable[[str, str, InputPolicy, str], bytes]


def media_pending(item: Item, policy: InputPolicy, where: str) -> Pending | None:
    """The checked video or PDF of a parsed request item (None when it has neither)."""
    if item.has_video:
        video = item.video
        source = [str(f) for f in video] if isinstance(video, tuple) else str(video)
        return open_video(source, policy, f"{where}.video", lambda s, w: image_source(s, policy, w), read_bytes)
    if item.pdf is not None:
        return open_pdf(str(item.pdf), policy, f"{where}.pdf", read_bytes, page=item.page)
    return None


def open_video(
    source: str | list[str], policy: InputPolicy, where: str, open_image: OpenImage, read: Reader = read_bytes
) -> Pending:
    """Check a video's frames (or its stream header) against the pixel limits; decode later."""
    if isinstance(source, list):
        if not source:
            raise RequestError(400, f"{where}: a video needs at least one frame", param=where)
        if len(source) > policy.media.max_frames:
            raise RequestError(
                413,
                f"{where}: the video has {len(source)} frames; the limit is {policy.media.max_frames} (max_frames)",
                param=where,
                code="media_too_large",
            )
        frames = [open_image(s, f"{where}[{k}]") for k, s in enumerate(source)]
        return _frames_pending(frames, policy, where)
    folder = _folder_under_root(source, policy, where)
    if folder is not None:
        try:
            files = frame_files(folder, where)
        except InputError as exc:
            raise RequestError(400, str(exc), param=where) from None
        frames = [
            open_image(str(p.relative_to(policy.image_root)), f"{where}/{p.name}")  # type: ignore[arg-type]
            for p in files
        ]
        return _frames_pending(frames, policy, where)
    data = read(source, where, policy, "video/")
    width, height, total = _probe_video(data, policy, where)
    if not policy.sample_videos:  # the profile reads the file itself (its own frame count, same limits)
        return Pending(min(total, PROFILE_MAX_FRAMES) * width * height, 1, lambda item: replace(item, video=data))
    kept = len(sample_indices(len(extract_indices(total))))
    return Pending(
        kept * width * height,
        1,
        lambda item: replace(item, video=tuple(_decode(lambda: load_frames(data, where, policy=policy.media), where))),
    )


def open_pdf(
    source: str, policy: InputPolicy, where: str, read: Reader = read_bytes, page: int | None = None
) -> Pending:
    """Check a PDF's pages (all, or just `page`): count, area in points and rendered pixels, all
    before rendering; any pdfium failure on a malformed file is a 400 naming the page."""
    data = read(source, where, policy, "application/pdf")
    try:
        doc = PdfDocument(data, where, policy.media)  # not the per-thread cache: request threads are many
    except InputError as exc:
        raise media_refusal(exc, where, "invalid_pdf") from None
    try:
        doc.check(policy.media)
        if page is None and doc.pages > policy.max_items:
            raise RequestError(
                400,
                f"{where}: the PDF has {doc.pages} pages (each PDF page is one vector); this server accepts at most "
                f"{policy.max_items} per request",
                param=where,
                code="too_many_items",
            )
        numbers = range(1, doc.pages + 1) if page is None else [page]
        pixels = [doc.page_pixels(k, where, policy.media) for k in numbers]
    except InputError as exc:
        raise media_refusal(exc, where, "invalid_pdf") from None
    finally:
        doc.close()
    return Pending(sum(pixels), len(pixels), lambda item: replace(item, pdf=data))


def _frames_pending(frames: list[Image.Image], policy: InputPolicy, where: str) -> Pending:
    """Every frame sent counts into the request's pixels; only the sampled ones are decoded."""
    pixels = sum(f.width * f.height for f in frames)
    if not policy.sample_videos:  # the profile picks its own frames from the list
        return Pending(pixels, 1, lambda item: replace(item, video=tuple(frames)))
    return Pending(
        pixels,
        1,
        lambda item: replace(
            item, video=tuple(_decode(lambda: load_frames(tuple(frames), where, policy=policy.media), where))
        ),
    )


def _decode(load: Callable[[], list[Image.Image]], where: str) -> list[Image.Image]:
    try:
        return load()
    except InputError as exc:
        raise media_refusal(exc, where, "invalid_video") from None


def _probe_video(data: bytes, policy: InputPolicy, where: str) -> tuple[int, int, int]:
    """(width, height, frame count) as the container header states them, without decoding (the
    decoder checks what the frames really are)."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise RequestError(400, f"{where}: the file has no video stream", param=where, code="invalid_video")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            total = stream.frames
    except RequestError:
        raise
    except Exception as exc:  # PyAV's FFmpeg errors
        raise RequestError(
            400, f"{where}: not a readable video ({type(exc).__name__}: {exc})", param=where, code="invalid_video"
        ) from None
    if not width or not height:
        raise RequestError(400, f"{where}: the video has no frame size", param=where, code="invalid_video")
    try:
        check_pixels(width, height, where, policy.media, "each video frame")
    except InputError as exc:
        raise media_refusal(exc, where, "invalid_video") from None
    return width, height, total or min(policy.media.max_frames, 64)


def _folder_under_root(source: str, policy: InputPolicy, where: str) -> Path | None:
    """The frame folder `source` names under the image root, or None when it is not a folder."""
    if source.startswith("data:") or "://" in source or policy.image_root is None:
        return None
    try:
        resolved = (policy.image_root / source).resolve()
    except (ValueError, OSError):
        return None
    if not resolved.is_dir():
        return None
    if not resolved.is_relative_to(policy.image_root):
        raise RequestError(
            403, f"{where}: path {source!r} is outside the image root", param=where, code="path_outside_root"
        )
    return resolved
