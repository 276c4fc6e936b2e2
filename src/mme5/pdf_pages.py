"""PDF pages as images (pypdfium2), within the media policy: a document is opened once (a few open
documents are kept per thread, so the pages of one PDF encoded batch after batch reuse it), each
page's area in points is checked before it is rendered, and every pdfium call that can fail on a
malformed file (opening, page sizes, rendering) answers an InputError naming the file and page.

pdfium is not thread-safe: every call into it holds one process-wide lock.
"""

from __future__ import annotations

import atexit
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import InputError
from .media_policy import DEFAULT_POLICY, LimitError, MediaPolicy, check_bytes, check_pixels, prefix, refuse

PdfLike = str | Path | bytes
PDF_DPI = 144  # render resolution of PDF pages (pypdfium2 scale = dpi / 72)
OPEN_DOCUMENTS = 4  # per thread
_LOCK = threading.RLock()
_local = threading.local()
_open: weakref.WeakSet[PdfDocument] = weakref.WeakSet()  # closed at exit (pdfium would warn otherwise)


class PdfDocument:
    """One open PDF: its page count checked against the policy; pages checked, then rendered."""

    def __init__(self, source: PdfLike, where: str, policy: MediaPolicy) -> None:
        import pypdfium2 as pdfium

        self.name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
        self.where = where
        if isinstance(source, (str, Path)) and not Path(source).is_file():
            raise InputError(f"{prefix(where)}PDF file not found: {source}")
        size = len(source) if isinstance(source, (bytes, bytearray)) else Path(source).stat().st_size
        check_bytes(size, where, policy, "PDF")
        with _LOCK:
            try:
                self._doc = pdfium.PdfDocument(
                    bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source)
                )
                self.pages = len(self._doc)
            except pdfium.PdfiumError as exc:
                why = (
                    "it is encrypted (password-protected)" if exc.err_code == pdfium.raw.FPDF_ERR_PASSWORD else str(exc)
                )
                raise InputError(f"{prefix(where)}cannot open PDF {self.name}: {why}") from None
            except Exception as exc:  # pdfium on a malformed file
                raise InputError(f"{prefix(where)}cannot open PDF {self.name}: {exc}") from None
        if not getattr(_close_all, "registered", False):  # registered after pypdfium2's own exit hook
            atexit.register(_close_all)  # exit hooks run last-in first-out: ours first
            _close_all.registered = True  # type: ignore[attr-defined]
        _open.add(self)

    def check(self, policy: MediaPolicy) -> None:
        """The page count against the policy (a cached document may meet another policy)."""
        if self.pages > policy.max_pages:
            raise refuse(self.where, f"the PDF has {self.pages} pages", "max_pages", policy)
        if not self.pages:
            raise InputError(f"{prefix(self.where)}PDF {self.name} has no pages")

    def page_pixels(self, number: int, where: str, policy: MediaPolicy, dpi: int = PDF_DPI) -> int:
        """Pixels page `number` (from 1) renders to, checked (area in points, then pixels) without rendering."""
        w, h = self.rendered_size(number, where, policy, dpi)
        return w * h

    def rendered_size(self, number: int, where: str, policy: MediaPolicy, dpi: int = PDF_DPI) -> tuple[int, int]:
        """(width, height) page `number` (from 1) renders to, checked as `page_pixels` says."""
        if not 1 <= number <= self.pages:
            raise InputError(f"{prefix(where)}page {number} does not exist: the PDF has {self.pages} pages")
        with _LOCK:
            try:
                width, height = self._doc.get_page_size(number - 1)
            except Exception as exc:  # a malformed page tree: pdfium cannot load the page
                raise InputError(f"{prefix(where)}page {number} of PDF {self.name} cannot be read: {exc}") from None
        if width * height > policy.max_page_area:
            raise LimitError(
                f"{prefix(where)}page {number} is {width:.0f}x{height:.0f} pt = {width * height:.0f} square points; "
                f"the limit is {policy.max_page_area:.0f} (max_page_area)",
                "max_page_area",
            )
        w, h = math.ceil(width * dpi / 72), math.ceil(height * dpi / 72)
        check_pixels(w, h, where, policy, f"page {number} at {dpi} dpi")
        return w, h

    def render(self, number: int, where: str, policy: MediaPolicy, dpi: int = PDF_DPI) -> Image.Image:
        """Page `number` (from 1) as RGB, after `page_pixels` accepted it."""
        self.page_pixels(number, where, policy, dpi)
        with _LOCK:
            try:
                page = self._doc[number - 1]
                try:
                    return page.render(scale=dpi / 72).to_pil().convert("RGB")
                finally:
                    page.close()
            except Exception as exc:
                raise InputError(f"{prefix(where)}cannot render page {number} of PDF {self.name}: {exc}") from None

    def close(self) -> None:
        with _LOCK:
            self._doc.close()
        _open.discard(self)


def _close_all() -> None:
    for doc in list(_open):
        doc.close()


def _key(source: PdfLike) -> tuple[Any, ...]:
    if isinstance(source, (bytes, bytearray)):
        return ("bytes", id(source), len(source))  # the cache holds `source`, so its id stays its own
    path = Path(source)
    try:
        stat = path.stat()
    except OSError:
        return ("path", str(path))
    return ("path", str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def open_pdf(source: PdfLike, where: str = "", policy: MediaPolicy = DEFAULT_POLICY) -> PdfDocument:
    """The document for `source`, opened once per thread while it stays among the last few used."""
    cache: OrderedDict[tuple[Any, ...], tuple[PdfLike, PdfDocument]] = getattr(_local, "docs", None) or OrderedDict()
    _local.docs = cache
    key = _key(source)
    if key in cache:
        cache.move_to_end(key)
        doc = cache[key][1]
        doc.where = where
    else:
        doc = PdfDocument(source, where, policy)
        cache[key] = (source, doc)
        while len(cache) > OPEN_DOCUMENTS:
            cache.popitem(last=False)[1][1].close()
    doc.check(policy)
    return doc


def pdf_page_count(source: PdfLike, where: str = "", policy: MediaPolicy = DEFAULT_POLICY) -> int:
    """Number of pages (within max_pages; renders nothing)."""
    return open_pdf(source, where, policy).pages


def iter_pages(
    source: PdfLike,
    where: str = "",
    dpi: int = PDF_DPI,
    pages: Sequence[int] | None = None,
    policy: MediaPolicy = DEFAULT_POLICY,
) -> Iterator[tuple[int, Image.Image]]:
    """(page number, RGB image) for the given pages (default all), one open document, one page in memory."""
    doc = open_pdf(source, where, policy)
    for number in range(1, doc.pages + 1) if pages is None else pages:
        yield number, doc.render(number, where, policy, dpi)


def render_pages(
    source: PdfLike,
    where: str = "",
    dpi: int = PDF_DPI,
    pages: Sequence[int] | None = None,
    policy: MediaPolicy = DEFAULT_POLICY,
) -> list[Image.Image]:
    """Pages (numbered from 1; default all) rendered to RGB at `dpi`."""
    return [image for _, image in iter_pages(source, where, dpi, pages, policy)]
