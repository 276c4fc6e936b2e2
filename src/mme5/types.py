"""The few records that flow through every stage: synthesis writes them, datasets yield them,
evaluation encodes them and the server accepts them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from .errors import InputError
from .media_policy import DEFAULT_POLICY, MediaPolicy, check_bytes, check_pixels

ImageLike = str | Path | bytes | Image.Image
# A video: an ordered sequence of frame images, a folder of frames, or a video file (path or
# bytes). mme5.media turns it into frames (64 extracted, 8 sampled; see media.py).
VideoLike = str | Path | bytes | tuple[ImageLike, ...] | list[ImageLike]
PdfLike = str | Path | bytes

# The hub datasets (MMEB, mmE5-synthetic) store this Phi-3.5-V placeholder at the start of a text
# whose side has an image; each backbone's formatter rewrites it.
HUB_IMAGE_PLACEHOLDER = "<|image_1|>\n"


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder the user named is absent or lacks what it needs; the message says what to do.

    Still a FileNotFoundError for callers that catch one; `mme5` reports it as a user error (exit 2).
    """


@dataclass(frozen=True)
class Item:
    """One side of a pair: an optional instruction, text, image and the text's language.

    `text` may already carry the hub convention (`<|image_1|>\\n...`); with an `instruction` the
    mmE5 convention applies: `"{instruction} {text}\\n"`.
    """

    text: str | None = None
    image: ImageLike | None = None
    instruction: str | None = None
    language: str | None = None
    video: VideoLike | None = None
    """Frames (list -> stored as a tuple), a frame folder or a video file; see mme5.media."""
    pdf: PdfLike | None = None
    """A PDF. With `page`, that page is the item's image (rendered when encoded); without, the PDF is
    expanded into one item per page (mme5.media.expand_pdfs) before encoding."""
    page: int | None = None
    """The page of `pdf` (from 1) this item is."""

    def __post_init__(self) -> None:
        if isinstance(self.video, list):  # frozen items stay hashable
            object.__setattr__(self, "video", tuple(self.video))

    @property
    def has_image(self) -> bool:
        return self.image is not None and self.image != ""

    @property
    def has_video(self) -> bool:
        return self.video is not None and self.video != "" and self.video != ()


class Named(Protocol):
    """Anything with a name (a backbone spec)."""

    @property
    def name(self) -> str: ...


@runtime_checkable
class Encoder(Protocol):
    """What evaluation, retrieval, index building and serving need from an embedder (`Embedder` is
    one; a test double or a remote client can be another)."""

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    @property
    def fingerprint(self) -> str:
        """Identifies weights + formatting: keys embedding caches and indexes."""
        ...

    @property
    def backbone(self) -> Named:
        """The model family (its `name` goes into reports and provenance)."""
        ...

    def encode(
        self,
        items: Sequence[Item | dict | str],
        batch_size: int = 16,
        *,
        show_progress: bool | None = None,
        where: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Items -> (n, dim) float32, L2-normalised, row i = item i; `where` names items in errors."""
        ...


@dataclass(frozen=True)
class ContrastiveExample:
    """A training example: a query, its positive and hard negatives, and where it came from."""

    query: Item
    positive: Item
    hard_negatives: tuple[Item, ...] = field(default_factory=tuple)
    source: str = ""
    teacher_scores: tuple[float, ...] = ()
    """A reranker's logits of [positive, *hard_negatives] (`mme5 mine --teacher-scores`), for
    distillation; empty = none."""


def load_image(image: ImageLike, where: str = "", policy: MediaPolicy = DEFAULT_POLICY) -> Image.Image:
    """Open a path, bytes or PIL image as RGB; a path or bytes within `policy` (file bytes, then the
    pixel count read from the header, before the pixels are decoded); errors name `where` (item
    index, row) and the path."""
    prefix = f"{where}: " if where else ""
    if isinstance(image, Image.Image):  # decoded already: its cost is paid, nothing left to bound
        return image.convert("RGB")
    name = "<bytes>" if isinstance(image, (bytes, bytearray)) else str(image)
    try:
        if isinstance(image, (bytes, bytearray)):
            check_bytes(len(image), where, policy, "image")
            img = Image.open(io.BytesIO(image))
        else:
            path = Path(image)
            if not path.is_file():
                raise InputError(f"{prefix}image file not found: {path}")
            check_bytes(path.stat().st_size, where, policy, "image file")
            img = Image.open(path)
        check_pixels(img.width, img.height, where, policy)
        img.load()
    except InputError:
        raise
    except Image.DecompressionBombError:  # PIL's own bound, above ours unless a policy raises it
        raise InputError(f"{prefix}image {name} has too many pixels for PIL's decompression-bomb check") from None
    except Exception as exc:  # PIL raises many types for corrupt data
        raise InputError(f"{prefix}cannot read image {name}: {exc}") from exc
    return img.convert("RGB")


# ---- the one item parser ---------------------------------------------------------------------
ITEM_FIELDS = ("text", "image", "video", "pdf", "page", "instruction", "language")
"""The fields an item object may carry (JSONL lines, server requests, index corpora, encode dicts)."""
_STRING_FIELDS = ("text", "instruction", "language")
_CONTENT = "text, image, video, pdf or instruction"


def parse_item(obj: object, where: str, base_dir: str | Path | None = None) -> Item:
    """A JSON object (or a string = its text, or an Item) -> a checked Item, with one set of rules
    and messages for `mme5 embed`, the server, index corpora and `Embedder.encode`.

    Unknown fields, non-string texts and empty items (whitespace counts as empty) are refused with
    an InputError naming `where`; a relative image path is resolved against `base_dir` if given."""
    if isinstance(obj, Item):
        item = obj
    elif isinstance(obj, str):
        item = Item(text=obj)
    elif isinstance(obj, dict):
        item = _from_dict(obj, where, base_dir)
    else:
        raise InputError(
            f"{where}: expected an item object {{{', '.join(ITEM_FIELDS)}}} or a string, got {type(obj).__name__}"
        )
    if is_empty(item):
        raise InputError(f"{where} is empty: give at least one of {_CONTENT}")
    return item


def is_empty(item: Item) -> bool:
    """True when an item has nothing to encode: no image or video and only whitespace as text/instruction."""
    return (
        not (item.text or "").strip()
        and not item.has_image
        and not item.has_video
        and not item.pdf
        and not (item.instruction or "").strip()
    )


def _from_dict(obj: dict, where: str, base_dir: str | Path | None) -> Item:
    unknown = set(obj) - set(ITEM_FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {sorted(map(str, unknown))}; allowed: {', '.join(ITEM_FIELDS)}")
    for key in _STRING_FIELDS:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise InputError(f"{where}: field {key!r} must be a string, got {type(obj[key]).__name__}")
    image = obj.get("image") or None
    if image is not None and not isinstance(image, (str, Path, bytes, bytearray, Image.Image)):
        raise InputError(f"{where}: field 'image' must be a path string, got {type(image).__name__}")
    if isinstance(image, (str, Path)) and base_dir is not None and not Path(image).is_absolute():
        image = str(Path(base_dir) / image)
    fields = {key: obj[key] for key in ITEM_FIELDS if key in obj}
    fields["image"] = image
    for key in ("video", "pdf"):  # paths resolve like images; a video may be a list of frames
        if key in fields:
            fields[key] = _media_field(fields[key] or None, key, where, base_dir)
    page = fields.get("page")
    if page is not None and (type(page) is not int or page < 1 or not fields.get("pdf")):
        raise InputError(f"{where}: field 'page' must be a page number (1, 2, ...) of the item's 'pdf', got {page!r}")
    return Item(**fields)


def _media_field(value: object, key: str, where: str, base_dir: str | Path | None) -> object:
    """A `video` (a file, a frame folder, or a list of frames) or `pdf` field, relative paths resolved."""
    if value is None:
        return None
    if key == "video" and isinstance(value, (list, tuple)):
        return [_media_field(v, "video frame", where, base_dir) for v in value]
    kinds = (str, Path, bytes, bytearray, Image.Image) if key == "video frame" else (str, Path, bytes, bytearray)
    if not isinstance(value, kinds):
        hint = " or a list of frame paths" if key == "video" else ""
        raise InputError(f"{where}: field {key!r} must be a path string{hint}, got {type(value).__name__}")
    if isinstance(value, (str, Path)) and base_dir is not None and not Path(value).is_absolute():
        return str(Path(base_dir) / value)
    return value
