"""XTD-10 (caption -> image retrieval in 11 languages) in all three places it lives:

- the ORIGINAL file layout (adobe-research): `XTD10/test_image_names.txt`, one caption file per
  language (`XTD10/`, `MIC/` for de fr, `STAIR/` for Japanese, whose file code is `jp`), images
  in a separate folder;
- the hub copy `Haon-Chen/XTD-10` (MMEB-eval rows, per-row candidate lists) that mmE5 evaluates;
- a local copy of that hub format (`DIR/<lang>/...`).

Each task is scored in two clearly labelled protocols: "row" (each caption against its own
candidate list, positive first: mmE5) and "gallery" (each caption against all 1,000 images: CLIP).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..prompts import XTD_IMAGE_TARGET, XTD_QUERY_INSTRUCTION
from ..types import InputError, Item, MissingFileError
from .catalog import XTD_FILES, XTD_HUB_LANGUAGES
from .data import EvalData, Ranking, RowsBuilder, SkippedRow, gallery_ranking
from .loaders import DataSource, find_local, load_mmeb_rows, register_loader
from .tasks import TaskSpec

IMAGE_NAMES = Path("XTD10") / "test_image_names.txt"
log = logging.getLogger(__name__)


@dataclass
class XTDLayout:
    """The original files: image names and, per language (ISO code), one caption per image."""

    root: Path
    image_names: list[str]
    captions: dict[str, list[str]]

    def caption_file(self, language: str) -> Path:
        folder, code = XTD_FILES[language]
        return self.root / folder / f"test_1kcaptions_{code}.txt"


def read_lines(path: Path) -> list[str]:
    """Lines of a text file, robust to what the XTD files really contain: CRLF endings, a missing
    final newline (`wc -l` then says 999 for 1,000 lines) and a UTF-8 BOM.

    Splits on "\\n" only: `str.splitlines` would also split on U+0085 / U+2028 inside captions.
    """
    text = path.read_text(encoding="utf-8-sig")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_layout(root: str | Path, languages: list[str] | None = None) -> XTDLayout:
    """Read the image-name list and the caption files of `languages` (default: all present)."""
    root = Path(root)
    names_file = root / IMAGE_NAMES
    if not names_file.is_file():
        raise MissingFileError(f"{root} is not an XTD layout: {names_file} is missing")
    names = read_lines(names_file)
    _check_lines(names_file, names)
    layout = XTDLayout(root, names, {})
    for lang in languages or [lang for lang in XTD_FILES if layout.caption_file(lang).is_file()]:
        if lang not in XTD_FILES:
            raise InputError(f"unknown XTD language {lang!r}; known: {sorted(XTD_FILES)}")
        path = layout.caption_file(lang)
        if not path.is_file():
            raise MissingFileError(f"XTD captions for {lang!r} not found: {path}")
        captions = read_lines(path)
        _check_lines(path, captions)
        if len(captions) != len(names):
            raise InputError(
                f"{path}: {len(captions)} captions for {len(names)} images in {names_file}; line i must caption image i"
            )
        layout.captions[lang] = captions
    return layout


def _check_lines(path: Path, lines: list[str]) -> None:
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise InputError(f"{path}:{i}: empty line (every line must hold one entry)")


def find_image_dir(root: Path, names: list[str], image_dir: str | None) -> Path:
    """The folder holding the images: `image_dir` if given, else the usual places beside the
    layout (the first that holds any of the first few listed files)."""
    options = (
        [Path(image_dir)] if image_dir else [root / "images", root.parent / "images", root / "XTD10" / "images", root]
    )
    for option in options:
        if any((option / name).is_file() for name in names[:10]):
            return option
    raise MissingFileError(
        f"XTD images not found: looked for {names[0]!r} in {', '.join(str(o) for o in options)}; "
        "pass --image-dir with the folder holding the files of test_image_names.txt"
    )


def layout_data(spec: TaskSpec, layout: XTDLayout, source: DataSource) -> EvalData:
    """Rows from the original layout. It has no candidate lists, so row i's list is its image
    followed by the other gallery images in file order (positive first, as in MMEB rows)."""
    lang = spec.language or ""
    captions = layout.captions[lang]
    image_dir = find_image_dir(layout.root, layout.image_names, source.image_dir)
    n = min(len(captions), source.max_rows or len(captions))
    paths = [image_dir / name for name in layout.image_names[:n]]
    skipped = [SkippedRow(i, str(p)) for i, p in enumerate(paths) if not p.is_file()]
    if skipped and not source.skip_missing:
        raise InputError(
            f"task {spec.name}: row {skipped[0].row}: image file not found: {skipped[0].path} "
            "(check --image-dir, or pass --skip-missing to drop such rows and count them)"
        )
    if skipped:
        log.warning(
            "task %s: skipped %d of %d rows whose image is missing (first: %s); they are left out of the gallery too",
            spec.name,
            len(skipped),
            n,
            skipped[0].path,
        )
    kept = sorted(set(range(n)) - {s.row for s in skipped})
    if not kept:
        raise InputError(f"task {spec.name}: none of the {n} images exist under {image_dir}")
    builder = RowsBuilder(spec.name)
    gallery = np.asarray([builder.item_id(Item(text=XTD_IMAGE_TARGET, image=str(paths[i]))) for i in kept])
    queries = [builder.item_id(Item(text=captions[i], instruction=XTD_QUERY_INSTRUCTION, language=lang)) for i in kept]
    m = len(kept)
    others = np.broadcast_to(gallery, (m, m))[~np.eye(m, dtype=bool)].reshape(m, m - 1)
    rows = Ranking(
        np.concatenate([gallery[:, None], others], axis=1),
        np.zeros(m, dtype=np.int64),
        f"per-row lists: positive first, then the other {m - 1} images "
        "(mmE5 protocol; the original layout carries no lists)",
    )
    full = Ranking(
        np.broadcast_to(gallery, (m, m)),
        np.arange(m, dtype=np.int64),
        f"full gallery of {m} images in file order (CLIP-style protocol)",
    )
    return EvalData(
        task=spec.name,
        items=builder.items,
        query_ids=np.asarray(queries, dtype=np.int64),
        rankings={"row": rows, "gallery": full},
        rows_total=n,
        occurrences=m * (m + 1),
        skipped=skipped,
    )


def is_layout(path: str | Path) -> bool:
    return (Path(path) / IMAGE_NAMES).is_file()


@register_loader("xtd")
def load_xtd(spec: TaskSpec, source: DataSource) -> EvalData:
    """An XTD language from the original layout, a local hub-format copy, or the hub itself."""
    if source.data_dir is not None and is_layout(source.data_dir):
        return layout_data(spec, read_layout(source.data_dir, [spec.language or ""]), source)
    if source.data_dir is not None and find_local(source.data_dir, spec.hub_config) is None:
        raise MissingFileError(
            f"task {spec.name}: {source.data_dir} is neither an XTD layout (no {IMAGE_NAMES}) nor holds "
            f"a subset {spec.hub_config!r} in the MMEB-eval format"
        )
    if source.data_dir is None and spec.language not in XTD_HUB_LANGUAGES:
        raise InputError(
            f"task {spec.name}: {spec.hub_id} has only the subsets {list(XTD_HUB_LANGUAGES)}; "
            "use --data-dir with the original XTD layout for the other languages"
        )
    data = load_mmeb_rows(spec, source, language=spec.language)
    data.rankings["row"].label = "per-row candidate lists of the data (mmE5 protocol)"
    data.rankings["gallery"] = gallery_ranking(data)
    return data
