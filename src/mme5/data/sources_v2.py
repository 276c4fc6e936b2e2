"""VLM2Vec-V2's training sources beside MMEB-train (spec mmeb_v2.md §7): ViDoRe's colpali train
set and VisRAG's in-domain set (document pages), and the ShareGPTVideo (LLaVA-Hound) caption and
QA files (videos as frame folders), with the published pair builders; and the weighted source
interleaving in same-source blocks.

A builder turns one row into a `ContrastiveExample`; `SourceConfig.builder` names it. The texts
follow mme5's item convention (the formatter puts the image/video tokens first and joins
`instruction` and `text` as `"{instruction} {text}\\n"`), with VLM2Vec's prompts from mme5.prompts.
Hub page images are written once under the source's `image_root` (`<row>.png`, or the raw bytes
with their own suffix), so millions of pages are never held in memory.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from .. import prompts
from ..config import ConfigError
from ..types import ContrastiveExample, InputError, Item

Builder = Callable[..., ContrastiveExample]
SourceWeights = Literal["repeat", "sample"]
"""How `SourceConfig.weight` acts: repeat rows, or sample a source per same-source block."""


def _page_file(image: Any, image_root: Path | None, where: str) -> str:
    """A hub page image (dict with bytes/path, PIL image or bytes) -> a file under `image_root`."""
    if image_root is None:
        raise ConfigError(
            f"{where}: this source stores its page images in the data; set the source's image_root "
            "(a folder where they are written once)"
        )
    if isinstance(image, dict):
        data, name = image.get("bytes"), image.get("path") or ""
    elif isinstance(image, (bytes, bytearray)):
        data, name = bytes(image), ""
    else:
        import io

        buf = io.BytesIO()
        image.save(buf, format="PNG")
        data, name = buf.getvalue(), "page.png"
    if not data:
        raise InputError(f"{where}: the row has no page image bytes")
    suffix = Path(name).suffix.lower() or ".png"
    path = Path(image_root) / f"{hashlib.sha1(data).hexdigest()[:20]}{suffix}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


def _field(row: dict[str, Any], key: str, where: str) -> Any:
    value = row.get(key)
    if value is None or value == "":
        raise InputError(f"{where}: missing column {key!r} (columns: {sorted(row)})")
    return value


def colpali(row: dict[str, Any], *, where: str, source: str, image_root: Path | None, **_: Any) -> ContrastiveExample:
    """vidore/colpali_train_set: page + query -> the answer text (the row's `prompt` is ignored)."""
    page = _page_file(_field(row, "image", where), image_root, where)
    return ContrastiveExample(
        Item(text=_field(row, "query", where), image=page), Item(text=_field(row, "answer", where)), source=source
    )


def visrag(row: dict[str, Any], *, where: str, source: str, image_root: Path | None, **_: Any) -> ContrastiveExample:
    """openbmb/VisRAG-Ret-Train-In-domain-data: the per-`source` query prompt + query -> the
    per-source page description + the page."""
    kind = row.get("source") or ""
    page = _page_file(_field(row, "image", where), image_root, where)
    query = Item(instruction=prompts.V2_VISRAG_QUERY.get(kind) or None, text=_field(row, "query", where))
    return ContrastiveExample(
        query, Item(instruction=prompts.V2_VISRAG_TARGET.get(kind) or None, image=page), source=source
    )


def _turns(row: dict[str, Any], where: str) -> tuple[str, str, str]:
    """(video folder, human turn without `<video>`, assistant turn) of a LLaVA-Hound row."""
    conversations = _field(row, "conversations", where)
    if not isinstance(conversations, list) or len(conversations) < 2:
        raise InputError(f"{where}: 'conversations' must hold a human and an assistant turn")
    human = str(conversations[0].get("value", "")).replace("<video>", "").strip()
    return str(_field(row, "video", where)), human, str(conversations[1].get("value", "")).strip()


def _frames(folder: str, image_root: Path | None) -> str:
    return str(Path(image_root) / folder) if image_root is not None else folder


def llava_hound_caption(
    row: dict[str, Any], *, where: str, source: str, image_root: Path | None, **_: Any
) -> ContrastiveExample:
    """video_caption_300k: the video + the human turn -> the caption."""
    folder, human, caption = _turns(row, where)
    return ContrastiveExample(
        Item(text=human or None, video=_frames(folder, image_root)), Item(text=caption), source=source
    )


def llava_hound_video_retrieval(
    row: dict[str, Any], *, where: str, source: str, image_root: Path | None, **_: Any
) -> ContrastiveExample:
    """video_caption_300k-video: the caption (with the retrieval prompt) -> the video."""
    folder, _human, caption = _turns(row, where)
    return ContrastiveExample(
        Item(instruction=prompts.V2_TRAIN_VIDEO_QUERY, text=caption),
        Item(instruction=prompts.V2_TRAIN_VIDEO_TARGET, video=_frames(folder, image_root)),
        source=source,
    )


def llava_hound_qa(
    row: dict[str, Any], *, where: str, source: str, image_root: Path | None, **_: Any
) -> ContrastiveExample:
    """video_qa_240k: the QA prompt + question + the video -> the answer."""
    folder, human, answer = _turns(row, where)
    return ContrastiveExample(
        Item(instruction=prompts.V2_TRAIN_VIDEO_QA, text=human, video=_frames(folder, image_root)),
        Item(text=answer),
        source=source,
    )


BUILDERS: dict[str, Builder] = {
    "colpali": colpali,
    "visrag": visrag,
    "llava-hound-caption": llava_hound_caption,
    "llava-hound-video-retrieval": llava_hound_video_retrieval,
    "llava-hound-qa": llava_hound_qa,
}


def builder_for(name: str) -> Builder:
    """The pair builder a source names (`data.sources[].builder`)."""
    if name not in BUILDERS:
        raise ConfigError(f"unknown data source builder {name!r}; known: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[name]


def weighted_block_order(
    sources: Sequence[str], weights: dict[str, float], block: int, rng: random.Random
) -> list[int]:
    """VLM2Vec-V2's interleaving: for each block of `block` consecutive examples a source is drawn
    with probability weight / total, and its next examples (shuffled, cycled) fill the block, until
    every source has been used up at least once (`all_exhausted`)."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sources):
        by_source[s].append(i)
    names = sorted(by_source)
    missing = [n for n in names if weights.get(n, 0) <= 0]
    if missing:
        raise ConfigError(f"sources {missing} have no positive sampling weight")
    queues = {n: rng.sample(by_source[n], len(by_source[n])) for n in names}
    position = dict.fromkeys(names, 0)
    exhausted: set[str] = set()
    order: list[int] = []
    while len(exhausted) < len(names):
        name = rng.choices(names, weights=[weights[n] for n in names])[0]
        for _ in range(block):
            if position[name] == len(queues[name]):  # cycle: a fresh shuffle of this source
                exhausted.add(name)
                queues[name], position[name] = rng.sample(by_source[name], len(by_source[name])), 0
            order.append(queues[name][position[name]])
            position[name] += 1
        if position[name] == len(queues[name]):
            exhausted.add(name)
    return order
