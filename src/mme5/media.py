"""Videos and PDFs as model inputs: frames from a frame list, a frame folder or a video file
(decoded with PyAV), and PDF pages rendered with pypdfium2.

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

import numpy as np
from PIL import Image

from .types import ImageLike, InputError, Item, PdfLike, VideoLike, load_image

EXTRACT_FRAMES = 64
SAMPLED_FRAMES = 8
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
PDF_DPI = 144  # render resolution of PDF pages (pypdfium2 scale = dpi / 72)


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


def load_frames(video: VideoLike, where: str = "", num_frames: int | None = SAMPLED_FRAMES) -> list[Image.Image]:
    """The RGB frames the encoder sees for `video`: sampled to `num_frames` (None keeps all)."""
    if isinstance(video, (list, tuple)):
        frames: list[ImageLike] = list(video)
        if not frames:
            raise InputError(f"{_prefix(where)}video has no frames")
        return [load_image(frames[i], f"{where} frame {i}") for i in sample_indices(len(frames), num_frames)]
    if isinstance(video, (str, Path)) and Path(video).is_dir():
        files = frame_files(video, where)
        return [load_image(files[i], where) for i in sample_indices(len(files), num_frames)]
    return decode_video(video, where, num_frames)


def decode_video(
    source: str | Path | bytes, where: str = "", num_frames: int | None = SAMPLED_FRAMES
) -> list[Image.Image]:
    """Decode a video file (path or bytes) with PyAV: 64 evenly spaced frames, then `num_frames`."""
    import av

    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InputError(f"{_prefix(where)}video file not found: {source}")
    try:
        with av.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)) as container:
            if not container.streams.video:
                raise InputError(f"{_prefix(where)}{name} has no video stream")
            stream = container.streams.video[0]
            total = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            if not total:
                raise InputError(f"{_prefix(where)}video {name} has no frames")
            extracted = extract_indices(total)
            wanted = {extracted[i] for i in sample_indices(len(extracted), num_frames)}
            container.seek(0)
            frames: dict[int, Image.Image] = {}
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    frames[index] = frame.to_image().convert("RGB")
                if len(frames) == len(wanted):
                    break
    except InputError:
        raise
    except Exception as exc:  # PyAV raises FFmpegError subclasses, ValueError, ...
        raise InputError(f"{_prefix(where)}cannot decode video {name}: {exc}") from exc
    if not frames:
        raise InputError(f"{_prefix(where)}video {name} has no decodable frames")
    return [frames[i] for i in sorted(frames)]


def _open_pdf(source: PdfLike, where: str):
    """A pypdfium2 document; InputError for a missing, corrupt or password-protected file."""
    import pypdfium2 as pdfium

    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InputError(f"{_prefix(where)}PDF file not found: {source}")
    try:
        return pdfium.PdfDocument(bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source))
    except pdfium.PdfiumError as exc:
        why = "it is encrypted (password-protected)" if exc.err_code == pdfium.raw.FPDF_ERR_PASSWORD else str(exc)
        raise InputError(f"{_prefix(where)}cannot open PDF {name}: {why}") from exc


def pdf_page_count(source: PdfLike, where: str = "") -> int:
    """Number of pages (opens the document, renders nothing)."""
    doc = _open_pdf(source, where)
    try:
        return len(doc)
    finally:
        doc.close()


def render_pages(
    source: PdfLike, where: str = "", dpi: int = PDF_DPI, pages: Sequence[int] | None = None
) -> list[Image.Image]:
    """Pages (numbered from 1; default all) rendered to RGB at `dpi`."""
    doc = _open_pdf(source, where)
    try:
        numbers = range(1, len(doc) + 1) if pages is None else pages
        out = []
        for number in numbers:
            if not 1 <= number <= len(doc):
                raise InputError(f"{_prefix(where)}page {number} does not exist: the PDF has {len(doc)} pages")
            page = doc[number - 1]
            out.append(page.render(scale=dpi / 72).to_pil().convert("RGB"))
            page.close()
        return out
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{_prefix(where)}cannot render PDF page: {exc}") from exc
    finally:
        doc.close()


def pdf_pages(source: PdfLike, where: str = "", dpi: int = PDF_DPI) -> list[Image.Image]:
    """Every page of a PDF rendered to RGB at `dpi`."""
    return render_pages(source, where, dpi)


def page_item(item: Item, where: str = "", dpi: int = PDF_DPI) -> Item:
    """A PDF-page item (`pdf` + `page`) -> the same item with the rendered page as its image."""
    if item.page is None:
        raise InputError(
            f"{_prefix(where)}a PDF item needs a page number here; expand it into pages first "
            "(mme5.media.expand_pdfs: one item per page)"
        )
    if item.has_image or item.has_video:
        raise InputError(f"{_prefix(where)}a PDF page item cannot also carry an image or a video")
    image = render_pages(item.pdf, where, dpi, [item.page])[0]  # type: ignore[arg-type]
    return replace(item, pdf=None, page=None, image=image)


def expand_pdfs(items: Sequence[Item], where: Sequence[str] | None = None) -> list[tuple[int, int | None, Item]]:
    """Replace each whole-PDF item by one page item per page: (source index, page number from 1,
    or None for any other item, item). Pages are rendered when encoded, a batch at a time."""
    out: list[tuple[int, int | None, Item]] = []
    for i, item in enumerate(items):
        if item.pdf is None or item.page is not None:
            out.append((i, item.page, item))
            continue
        w = where[i] if where is not None else f"item {i}"
        out.extend((i, page, replace(item, page=page)) for page in range(1, pdf_page_count(item.pdf, w) + 1))
    return out


def frames_pixels(frames: Sequence[Image.Image]) -> int:
    """Decoded pixels of a frame list or page list (the quantity size limits count)."""
    return sum(f.width * f.height for f in frames)


def item_pixels(item: Item, where: str = "") -> int:
    """Decoded pixels the encoder will process for `item`: its image, its sampled frames, its pages."""
    total = 0
    if item.has_image:
        img = item.image if isinstance(item.image, Image.Image) else load_image(item.image, where)  # type: ignore[arg-type]
        total += img.width * img.height
    if item.has_video:
        total += frames_pixels(load_frames(item.video, where))  # type: ignore[arg-type]
    if item.pdf is not None:
        pages = None if item.page is None else [item.page]
        total += frames_pixels(render_pages(item.pdf, where, pages=pages))
    return total


def middle_frame(frames: Sequence[ImageLike]) -> ImageLike:
    """VLM2Vec's off-protocol fallback for image-only backbones: `frames[len // 2]`."""
    if not frames:
        raise InputError("video has no frames")
    return frames[len(frames) // 2]


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""
