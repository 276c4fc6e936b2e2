"""Which instructions an index embeds with, recorded in its index.json: the model's document prompt
for each item of a folder corpus (by kind: image, PDF page, video), and the query prompt that
`/v1/search`, `mme5 index search` and `VectorIndex.query_item` apply unless a query names another.

JSONL and parquet corpora are embedded as written (a row's `instruction` field, or none): what a
row says is what its vector holds. Every record keeps the instruction it was embedded with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..prompts import DOCUMENT_PROMPT_OF_KIND, QUERY, QUERY_PROMPT_FOR_KIND, item_kind
from .corpus import Corpus, FolderCorpus


def index_prompts(prompts: dict[str, str], corpus: Corpus) -> dict[str, Any]:
    """The `prompts` section of index.json for a corpus embedded by a model with `prompts`.

    `query`: the instruction a query gets by default (the kind's query prompt when every item of a
    folder corpus is of one kind, else the model's `query` prompt); `document`: kind -> instruction
    given to folder items (empty for JSONL / parquet corpora, whose rows carry their own)."""
    kinds = _folder_kinds(corpus)
    name = QUERY_PROMPT_FOR_KIND[next(iter(kinds))] if len(kinds) == 1 else QUERY
    if name not in prompts:
        name = QUERY
    document = {}
    for kind in sorted(kinds):
        instruction = prompts.get(DOCUMENT_PROMPT_OF_KIND[kind], "")
        if instruction:
            document[kind] = instruction
    return {
        "query": prompts.get(name) or None,
        "query_prompt": name,
        "document": document,
        "model_prompts": dict(prompts),
        "note": "document instructions apply to folder corpora; JSONL / parquet rows keep their own "
        "`instruction`; each record's item shows the instruction it was embedded with",
    }


def with_document_prompts(corpus: Corpus, section: dict[str, Any]) -> Corpus:
    """`corpus` whose records carry the document instruction of their kind (folder corpora only)."""
    if not section["document"] or not isinstance(corpus, FolderCorpus):
        return corpus
    return PromptedCorpus(corpus, dict(section["document"]))


@dataclass
class PromptedCorpus:
    """A folder corpus whose records' items carry the model's document instruction for their kind
    (picklable, so the Ray engine's CPU tasks read the same records)."""

    source: Corpus
    instructions: dict[str, str]
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.source.path

    def __len__(self) -> int:
        return len(self.source)

    def digest(self) -> str:
        return self.source.digest()

    def records(self, start: int, end: int) -> list[dict[str, Any]]:
        out = []
        for record in self.source.records(start, end):
            item = record["item"]
            instruction = self.instructions.get(item_kind(item))
            if instruction and not item.get("instruction"):
                record = {**record, "item": {**item, "instruction": instruction}}
            out.append(record)
        return out


def _folder_kinds(corpus: Corpus) -> set[str]:
    """The item kinds of a folder corpus (its records are file names: cheap to list); {} otherwise."""
    if not isinstance(corpus, FolderCorpus):
        return set()
    return {item_kind(r["item"]) for r in corpus.records(0, len(corpus))}
