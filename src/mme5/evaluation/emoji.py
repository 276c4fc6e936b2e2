"""The emoji retrieval tasks: a multilingual CLDR name -> its emoji image, on held-out splits.

A split definition file (`splits.json`, written by `mme5 quickstart` into its run folder) names the
emoji source, the two instructions and, per split, the gallery and the query images per language:

(a) `emoji-a-<lang>`: held-out (image, language) pairs of training images; gallery = every image;
(b) `emoji-b-<lang>`: images held out in every language; gallery = those images only.

Each query is ranked against the whole gallery (one protocol, "row"), with the metrics of every
task (`recall@10` headline, tie-aware numbers beside the original rule). So

    mme5 eval tasks emoji --model RUN/checkpoint --data-dir RUN --output OUT

recomputes what the quickstart reports for that run (tests/quickstart/test_quickstart.py).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.emoji import XTD_LANGUAGES, EmojiSet, load_emoji
from ..types import InputError, Item, MissingFileError
from .data import EvalData, Ranking, RowsBuilder
from .loaders import DataSource, register_loader
from .tasks import TaskSpec, register_benchmark, register_task

DEFINITION_FILE = "splits.json"
DEFINITION_FORMAT = 1
SPLITS = {"a": "a_heldout_pairs", "b": "b_heldout_images"}
"""task letter -> split name in the definition file (and in the quickstart's report)."""


def task_name(split: str, language: str) -> str:
    return f"emoji-{split}-{language}"


@dataclass(frozen=True)
class EmojiSplit:
    """One retrieval split: gallery image ids, and per language the ids whose name is a query."""

    description: str
    gallery: tuple[str, ...]
    queries: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class SplitDefinition:
    """What `splits.json` holds: where the emoji come from, the instructions and the splits."""

    source: str | None
    query_instruction: str | None
    image_instruction: str | None
    splits: dict[str, EmojiSplit]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": DEFINITION_FORMAT,
            "source": self.source,
            "query_instruction": self.query_instruction,
            "image_instruction": self.image_instruction,
            "splits": {
                name: {
                    "description": s.description,
                    "gallery": list(s.gallery),
                    "queries": {lang: list(ids) for lang, ids in s.queries.items()},
                }
                for name, s in self.splits.items()
            },
        }


def read_definition(folder: str | Path | None) -> SplitDefinition:
    """The split definition in `folder` (a quickstart run folder); errors name the file and field."""
    if folder is None:
        raise InputError(
            "emoji tasks are defined by a split file: pass --data-dir with a quickstart run folder "
            f"(it holds {DEFINITION_FILE})"
        )
    path = Path(folder) / DEFINITION_FILE
    if not path.is_file():
        raise MissingFileError(f"{path} not found: --data-dir must be a quickstart run folder")
    return _read_definition(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_definition(path: str, mtime_ns: int) -> SplitDefinition:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("format") != DEFINITION_FORMAT:
            raise InputError(f"{path}: split file format {raw.get('format')!r}, this mme5 reads {DEFINITION_FORMAT}")
        splits = {
            name: EmojiSplit(
                str(s.get("description", "")),
                tuple(s["gallery"]),
                {lang: tuple(ids) for lang, ids in s["queries"].items()},
            )
            for name, s in raw["splits"].items()
        }
        return SplitDefinition(raw.get("source"), raw.get("query_instruction"), raw.get("image_instruction"), splits)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a valid emoji split file ({type(exc).__name__}: {exc})") from None


@functools.lru_cache(maxsize=2)
def _emoji(source: str | None) -> tuple[EmojiSet, dict[str, int]]:
    data = load_emoji(source)
    return data, {r.id: i for i, r in enumerate(data.records)}


@register_loader("emoji")
def load_emoji_task(spec: TaskSpec, source: DataSource) -> EvalData:
    """One (split, language) task: every query name against the split's whole gallery."""
    definition = read_definition(source.data_dir)
    split = definition.splits.get(SPLITS.get(spec.hub_config, spec.hub_config))
    lang = spec.language or ""
    if split is None or lang not in split.queries:
        raise InputError(
            f"task {spec.name}: {source.data_dir}/{DEFINITION_FILE} has no queries for split "
            f"{spec.hub_config!r} in language {lang!r} (the run evaluated "
            f"{sorted(split.queries) if split else 'other splits'})"
        )
    data, index = _emoji(definition.source)
    unknown = [i for i in (*split.gallery, *split.queries[lang]) if i not in index]
    if unknown:
        raise InputError(f"task {spec.name}: emoji ids {unknown[:3]} of {DEFINITION_FILE} are not in {data.source}")
    builder = RowsBuilder(spec.name)
    gallery = np.asarray(
        [
            builder.item_id(Item(image=data.records[index[i]].image, instruction=definition.image_instruction))
            for i in split.gallery
        ],
        dtype=np.int64,
    )
    column = {image_id: c for c, image_id in enumerate(split.gallery)}
    ids = list(split.queries[lang])[: source.max_rows]
    queries = [
        builder.item_id(
            Item(text=data.records[index[i]].names[lang], instruction=definition.query_instruction, language=lang)
        )
        for i in ids
    ]
    if not queries:
        raise InputError(f"task {spec.name}: no queries")
    ranking = Ranking(
        np.broadcast_to(gallery, (len(ids), len(gallery))),
        np.asarray([column[i] for i in ids], dtype=np.int64),
        f"{split.description}: each name against all {len(gallery)} gallery images",
    )
    return EvalData(
        task=spec.name,
        items=builder.items,
        query_ids=np.asarray(queries, dtype=np.int64),
        rankings={"row": ranking},
        rows_total=len(ids),
        occurrences=len(ids) * (len(gallery) + 1),
    )


def _register() -> None:
    for letter, split in SPLITS.items():
        for lang in XTD_LANGUAGES:
            register_task(
                TaskSpec(
                    name=task_name(letter, lang),
                    family="custom",
                    meta_task="retrieval",
                    hub_id="",
                    hub_config=letter,
                    format="emoji",
                    modality="T -> I",
                    language=lang,
                    metric="recall@10",
                    description=f"emoji ({split}): {lang} CLDR name -> emoji image",
                )
            )
        register_benchmark(f"emoji-{letter}", [task_name(letter, lang) for lang in XTD_LANGUAGES])
    register_benchmark("emoji", [task_name(letter, lang) for letter in SPLITS for lang in XTD_LANGUAGES])


_register()
