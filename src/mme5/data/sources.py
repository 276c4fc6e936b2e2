"""Where training rows come from: local JSONL / parquet / `save_to_disk` folders, hub datasets,
and the generated toy set. Each reader yields (where, row) so every error names dataset and row.

Public entry point: `load_examples(path_or_hub_id, ...) -> list[ContrastiveExample]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..jsonl import iter_jsonl_objects
from ..types import ContrastiveExample, InputError, MissingFileError
from .images import ImageCheck, OnBadImage, check_example_images
from .schema import row_to_example

Rows = Iterator[tuple[str, dict[str, Any]]]
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TOY_SCHEME = "toy:"


@dataclass(frozen=True)
class ResolvedSource:
    """A source after looking at the file system: which reader, what to read, its image root."""

    kind: str
    target: str
    subset: str | None
    default_image_root: Path | None


def _read_jsonl(src: ResolvedSource, split: str) -> Rows:
    for path in _shards(Path(src.target), ".jsonl", ".json"):
        yield from iter_jsonl_objects(path)


def _read_parquet(src: ResolvedSource, split: str) -> Rows:
    import pyarrow.parquet as pq

    for path in _shards(Path(src.target), ".parquet"):
        index = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield f"{path} row {index}", row
                index += 1


def _read_disk(src: ResolvedSource, split: str) -> Rows:
    import datasets

    data = datasets.load_from_disk(src.target)
    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise InputError(f"{src.target}: no split {split!r}; it has {sorted(data)}")
        data = data[split]
    for index, row in enumerate(data):
        yield f"{src.target} row {index}", row


def _read_hub(src: ResolvedSource, split: str) -> Rows:
    import datasets

    # the real hub path (users have the hub): downloaded once into the datasets cache, shared by
    # every rank and every later run; a cap stops the iteration, like the original's split[:n]
    data = datasets.load_dataset(src.target, src.subset, split=split)
    name = f"{src.target}/{src.subset}" if src.subset else src.target
    for index, row in enumerate(data):
        yield f"{name} row {index}", row


def _read_hub_file(src: ResolvedSource, split: str) -> Rows:
    import datasets

    # one JSONL file inside a hub dataset repo (e.g. ShareGPTVideo's caption files), cached by datasets
    data = datasets.load_dataset("json", data_files=src.target, split="train")
    for index, row in enumerate(data):
        yield f"{src.target} row {index}", row


READERS: dict[str, Callable[[ResolvedSource, str], Rows]] = {
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "disk": _read_disk,
    "hub": _read_hub,
    "hub-file": _read_hub_file,
}
HUB_FILE = "hf://datasets/"
SUFFIX_KIND = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


def _shards(path: Path, *suffixes: str) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in suffixes and p.is_file())


def resolve_source(path_or_hub_id: str | Path, subset: str | None = None) -> ResolvedSource:
    """Decide how to read a source: a file, a folder (`save_to_disk`, shards, or `<dir>/<subset>`),
    the generated toy set (`toy:shapes`), or a hub dataset id (`org/name`)."""
    text = str(path_or_hub_id)
    if text.startswith(TOY_SCHEME):
        from .toy import ensure_toy_dataset  # generated once, then read like any JSONL file

        folder = ensure_toy_dataset(text[len(TOY_SCHEME) :] or "shapes")
        return ResolvedSource("jsonl", str(folder / "train.jsonl"), None, folder)
    if text.startswith(HUB_FILE):  # hf://datasets/<org>/<repo>/<path to a .jsonl file>
        return ResolvedSource("hub-file", text, subset, None)
    path = Path(text).expanduser()
    if path.is_dir() and subset is not None:
        if not (path / subset).exists():
            raise MissingFileError(f"{path}: no subset folder {subset!r} (expected {path / subset})")
        return resolve_source(path / subset)
    if path.is_file():
        kind = SUFFIX_KIND.get(path.suffix)
        if kind is None:
            raise InputError(f"{path}: unsupported file type {path.suffix!r}; use .jsonl, .json or .parquet")
        return ResolvedSource(kind, str(path), subset, path.parent)
    if path.is_dir():
        if any((path / f).is_file() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return ResolvedSource("disk", str(path), subset, path)
        kinds = {SUFFIX_KIND[p.suffix] for p in path.iterdir() if p.suffix in SUFFIX_KIND and p.is_file()}
        if len(kinds) != 1:
            found = "both JSONL and parquet shards" if kinds else "no .jsonl/.parquet shards and no save_to_disk files"
            raise InputError(f"{path}: cannot tell how to read this folder ({found})")
        return ResolvedSource(kinds.pop(), str(path), subset, path)
    if HUB_ID.match(text) and not text.startswith((".", "/", "~")):
        return ResolvedSource("hub", text, subset, None)
    raise MissingFileError(f"training data not found: {text} is neither a local file/folder nor a hub id (org/name)")


def read_examples(
    path_or_hub_id: str | Path,
    *,
    image_root: str | Path | None = None,
    subset: str | None = None,
    split: str = "train",
    negative_ratio: int = 3,
    max_rows: int | None = None,
    name: str | None = None,
    seed: int = 0,
    builder: str | None = None,
) -> tuple[list[ContrastiveExample], list[str]]:
    """Examples plus, for each, where it came from (`file:line` / `dataset row i`)."""
    src = resolve_source(path_or_hub_id, subset)
    root = Path(image_root).expanduser() if image_root is not None else src.default_image_root
    if builder:  # a published layout (colpali, visrag, LLaVA-Hound): mme5.data.sources_v2
        from .sources_v2 import builder_for

        to_example = builder_for(builder)
    else:
        to_example = row_to_example
    source_name = name or subset or Path(src.target).stem
    examples: list[ContrastiveExample] = []
    wheres: list[str] = []
    for where, row in READERS[src.kind](src, split):
        if max_rows is not None and len(examples) >= max_rows:
            break
        examples.append(
            to_example(row, where=where, source=source_name, image_root=root, negative_ratio=negative_ratio, seed=seed)
        )
        wheres.append(where)
    return examples, wheres


def load_examples(
    path_or_hub_id: str | Path,
    *,
    image_root: str | Path | None = None,
    subset: str | None = None,
    negative_ratio: int = 3,
    max_rows: int | None = None,
    split: str = "train",
    check_images: ImageCheck = "exists",
    on_bad_image: OnBadImage = "error",
) -> list[ContrastiveExample]:
    """Rows in the training schema -> ContrastiveExamples (JSONL / parquet / folder / hub id).

    Relative image paths resolve against `image_root` (default: the data file's folder).
    `max_rows` caps the source (the original `num_sample_per_subset`: the first rows).
    Missing images raise with dataset, row and path (or, with `on_bad_image="skip"`, drop the
    example and log the count). An empty result is an error.
    """
    examples, wheres = read_examples(
        path_or_hub_id,
        image_root=image_root,
        subset=subset,
        split=split,
        negative_ratio=negative_ratio,
        max_rows=max_rows,
    )
    kept, _, _ = check_example_images(examples, wheres, check=check_images, on_bad=on_bad_image)
    if not kept:
        raise InputError(f"{path_or_hub_id}{'/' + subset if subset else ''}: no usable examples")
    return [examples[i] for i in kept]
