"""Videos and PDFs on the wire, under the same limits as images: every frame and every page is
size-checked from headers (PyAV stream header, PDF page boxes) and counted into the request's
decoded pixels before anything is decoded or rendered.

A video is a list of frames (each a data URL, or a path under --image-root), or one source: a
`data:video/...;base64,` URL, a video file or a frame folder under --image-root. A PDF is a
`data:application/pdf;base64,` URL or a path under --image-root; it becomes one vector per page.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from ..media import PDF_DPI, extract_indices, frame_files, load_frames, sample_indices
from ..types import InputError, Item
from .errors import RequestError

if TYPE_CHECKING:
    from .inputs import InputPolicy


@dataclass(frozen=True)
class Pending:
    """A checked video or PDF: the decoded pixels it will cost, the vectors it yields (pages),
    and how to finish the item once the whole request is within its limits."""

    pixels: int
    rows: int
    finish: Callable[[Item], Item]


OpenImage = Callable[[str, str], Image.Image]
"""The image opener of serving.inputs (data URL / path under the root / URL; header checked)."""


def media_pending(item: Item, policy: InputPolicy, where: str) -> Pending | None:
    """The checked video or PDF of a parsed request item (None when it has neither)."""
    from .inputs import _image

    if item.has_video:
        video = item.video
        source = [str(f) for f in video] if isinstance(video, tuple) else str(video)
        return open_video(source, policy, f"{where}.video", lambda s, w: _image(s, policy, w), read_bytes)
    if item.pdf is not None:
        return open_pdf(str(item.pdf), policy, f"{where}.pdf", read_bytes, page=item.page)
    return None


def read_bytes(source: str, where: str, policy: InputPolicy, expect: str) -> bytes:
    """A video or PDF file's bytes from a data URL of media type `expect`, an http(s) URL (if the
    server fetches URLs) or a path under the image root, with the image byte limit."""
    from .inputs import _decode_data_url, _fetch, _read_local

    if source.startswith("data:"):
        return _decode_data_url(source, where, expect)
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in ("http", "https") and policy.allow_remote_images:
        return _fetch(source, policy, where)
    if scheme:
        raise RequestError(
            400,
            f"{where}: send the file as a data URL (data:{expect}...;base64,...) or a path under the image root",
            param=where,
        )
    return _read_local(source, policy, where)


def open_video(
    source: str | list[str],
    policy: InputPolicy,
    where: str,
    open_image: OpenImage,
    read: Callable[[str, str, InputPolicy, str], bytes] = read_bytes,
) -> Pending:
    """Check a video's frames (or its stream header) against the pixel limits; decode later."""
    if isinstance(source, list):
        if not source:
            raise RequestError(400, f"{where}: a video needs at least one frame", param=where)
        frames = [open_image(s, f"{where}[{k}]") for k, s in enumerate(source)]
        return _frames_pending(frames, where)
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
        return _frames_pending(frames, where)
    data = read(source, where, policy, "video/")
    width, height, total = _probe_video(data, where)
    if width * height > policy.max_image_pixels:
        raise RequestError(
            413,
            f"{where}: video frames are {width}x{height} = {width * height} pixels; the limit "
            f"is {policy.max_image_pixels}",
            param=where,
            code="image_too_large",
        )
    kept = len(sample_indices(len(extract_indices(total))))
    return Pending(
        kept * width * height,
        1,
        lambda item: replace(item, video=tuple(_decode(lambda: load_frames(data, where), where))),
    )


def open_pdf(
    source: str,
    policy: InputPolicy,
    where: str,
    read: Callable[[str, str, InputPolicy, str], bytes] = read_bytes,
    page: int | None = None,
) -> Pending:
    """Check a PDF's rendered page sizes (all pages, or just `page`); pages render when encoded."""
    import pypdfium2 as pdfium

    data = read(source, where, policy, "application/pdf")
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        why = "it is encrypted (password-protected)" if exc.err_code == pdfium.raw.FPDF_ERR_PASSWORD else str(exc)
        raise RequestError(400, f"{where}: cannot open PDF: {why}", param=where, code="invalid_pdf") from None
    try:
        if page is not None and not 1 <= page <= len(doc):
            raise RequestError(400, f"{where}: page {page} does not exist: the PDF has {len(doc)} pages", param=where)
        numbers = range(1, len(doc) + 1) if page is None else [page]
        sizes = [doc.get_page_size(k - 1) for k in numbers]
    finally:
        doc.close()
    scale = PDF_DPI / 72
    pixels = [math.ceil(w * scale) * math.ceil(h * scale) for w, h in sizes]
    for k, p in zip(numbers, pixels):
        if p > policy.max_image_pixels:
            raise RequestError(
                413,
                f"{where}: page {k} renders to {p} pixels at {PDF_DPI} dpi; the limit is {policy.max_image_pixels}",
                param=where,
                code="image_too_large",
            )
    return Pending(sum(pixels), len(pixels), lambda item: replace(item, pdf=data))


def _frames_pending(frames: list[Image.Image], where: str) -> Pending:
    """Every frame sent counts into the request's pixels; only the sampled ones are decoded."""
    pixels = sum(f.width * f.height for f in frames)
    return Pending(
        pixels, 1, lambda item: replace(item, video=tuple(_decode(lambda: load_frames(tuple(frames), where), where)))
    )


def _decode(load: Callable[[], list[Image.Image]], where: str) -> list[Image.Image]:
    try:
        return load()
    except InputError as exc:
        raise RequestError(400, str(exc), param=where, code="invalid_video") from None


def _probe_video(data: bytes, where: str) -> tuple[int, int, int]:
    """(width, height, frame count) from the container and stream headers, without decoding."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise RequestError(400, f"{where}: the file has no video stream", param=where, code="invalid_video")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            total = stream.frames or sum(1 for p in container.demux(stream) if p.size)
    except RequestError:
        raise
    except Exception as exc:  # PyAV's FFmpeg errors
        raise RequestError(
            400, f"{where}: not a readable video ({type(exc).__name__}: {exc})", param=where, code="invalid_video"
        ) from None
    if not total or not width or not height:
        raise RequestError(400, f"{where}: the video has no frames", param=where, code="invalid_video")
    return width, height, total


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
