"""The 18 MMEB-V2 video tasks: per family, how rows become a query, candidates and labels
(spec mmeb_v2.md §3; VLM2Vec: src/data/eval_dataset/video_*.py).

A video is the frame folder `<image-dir>/<frames>/<video>/` of the TIGER-Lab/MMEB-V2 archives
(8 frames sampled by mme5.media); when that folder is missing or empty, a raw video file
`<video>.mp4|.webm|.mkv|.avi|.mov` beside it is decoded instead (64 frames extracted, 8 sampled).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import prompts as P
from ...types import InputError, Item
from ..loaders import DataSource, register_loader
from ..tasks import TaskSpec
from .data import PoolBuilder, RankData
from .rows import column, frame_root, iter_task_rows, labels_file

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov")
BREAKFAST_LABELS = (
    "pancake",
    "cereal",
    "sandwich",
    "scrambledegg",
    "friedegg",
    "coffee",
    "milk",
    "tea",
    "juice",
    "salad",
)
# RET: (id column, caption column); the caption may be a list (first one taken)
RET_COLUMNS = {
    "MSR-VTT": ("video_id", "caption"),
    "MSVD": ("video_id", "caption"),
    "DiDeMo": ("video", "caption"),
    "VATEX": ("videoID", "enCap"),
    "YouCook2": ("id", "sentence"),
}
LETTERS = "ABCDEFGHIJ"


def video_path(root: Path, name: str) -> Path:
    """The frame folder of `name`, or a raw video file beside it when the folder has no frames."""
    folder = root / name
    if folder.is_dir() and any(p.suffix.lower() in (".jpg", ".jpeg", ".png") for p in folder.iterdir()):
        return folder
    for suffix in VIDEO_SUFFIXES:
        if (root / f"{name}{suffix}").is_file():
            return root / f"{name}{suffix}"
    return folder


def _stem(value: str) -> str:
    return Path(value).stem


RowFn = Callable[[PoolBuilder, int, str, dict[str, Any], str, Path], None]


def _cls(spec: TaskSpec) -> RowFn:
    def add(b: PoolBuilder, i: int, where: str, row: dict, config: str, root: Path) -> None:
        label = column(row, "pos_text", where)
        query = Item(
            instruction=P.V2_VIDEO_CLS[spec.name],
            video=video_path(root, str(column(row, "video_id", where, (str, int)))),
        )
        if spec.protocol == "local":  # SmthSmthV2: the row's own label list
            negs = [n for n in column(row, "neg_text", where, list) if n != label]
            b.add(i, query, [label], candidates=[(t, Item(text=t)) for t in [label, *negs]])
        else:
            b.add(i, query, [label])
            b.candidate(label, Item(text=label))

    return add


def _ret(spec: TaskSpec) -> RowFn:
    id_col, cap_col = RET_COLUMNS[spec.name]

    def add(b: PoolBuilder, i: int, where: str, row: dict, config: str, root: Path) -> None:
        vid = _stem(str(column(row, id_col, where, (str, int))))
        caption = column(row, cap_col, where, (str, list))
        if isinstance(caption, list):
            if not caption:
                raise InputError(f"{where}: column {cap_col!r} is an empty list")
            caption = str(caption[0])
        b.add(i, Item(instruction=P.V2_VIDEO_RET[spec.name], text=caption), [vid])
        b.candidate(vid, Item(instruction=P.V2_VIDEO_TARGET, video=video_path(root, vid)))

    return add


def _mret(spec: TaskSpec) -> RowFn:
    def add(b: PoolBuilder, i: int, where: str, row: dict, config: str, root: Path) -> None:
        name = _stem(column(row, "video_path", where))
        folder = root / name
        query = Item(instruction=P.V2_MRET_QUERY, text=column(row, "query", where), video=folder / "query")
        clips = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != "query") if folder.is_dir() else []
        if not clips:
            raise InputError(
                f"{where}: no clip folders in {folder} (expected query/ plus positive*/ and negative clips)"
            )
        cands = [(f"{name}/{c}", Item(instruction=P.V2_VIDEO_TARGET, video=folder / c)) for c in clips]
        b.add(i, query, [f"{name}/{c}" for c in clips if c.startswith("positive")], candidates=cands)

    return add


def _momentseeker(spec: TaskSpec) -> RowFn:
    def add(b: PoolBuilder, i: int, where: str, row: dict, config: str, root: Path) -> None:
        text, source = column(row, "query", where), str(row.get("input_frames") or "")
        if source.endswith(".mp4"):
            folder = root / "video_frames" / source.replace("/", "_").removesuffix(".mp4")
            query = Item(instruction=P.V2_MOMENTSEEKER_VIDEO, text=text, video=folder)
        elif source.endswith(".jpg"):
            query = Item(instruction=P.V2_MOMENTSEEKER_IMAGE, text=text, image=str(root / f"query_{source}"))
        else:
            query = Item(instruction=P.V2_MOMENTSEEKER_TEXT, text=text)
        pos = [c["output_path"] for c in column(row, "positive_frames", where, list)]
        neg = [c["output_path"] for c in column(row, "negative_frames", where, list)]
        cands = [(p, Item(instruction=P.V2_VIDEO_CLIP_TARGET, video=root / p)) for p in pos + neg]
        b.add(i, query, pos, candidates=cands)

    return add


def _qa(kind: str) -> Callable[[TaskSpec], RowFn]:
    def make(spec: TaskSpec) -> RowFn:
        def add(b: PoolBuilder, i: int, where: str, row: dict, config: str, root: Path) -> None:
            video, question, keys, texts, label = QA_PARSERS[kind](row, where, config)
            query = Item(instruction=P.V2_VIDEO_QA, text=question, video=video_path(root, video))
            b.add(i, query, [label], candidates=[(k, Item(text=t)) for k, t in zip(keys, texts)])

        return add

    return make


def _strip_prefix(option: str) -> str:
    return option[option.find(". ") :].strip(". ")


def _options(items: list[str], fmt: str = "({letter}) {text}") -> str:
    return "\nOptions:\n" + "\n".join(fmt.format(letter=LETTERS[j], text=t) for j, t in enumerate(items))


def _videomme(row: dict, where: str, config: str):
    options = [str(o) for o in column(row, "options", where, list)]
    answer = column(row, "answer", where)
    return (
        str(column(row, "videoID", where)),
        column(row, "question", where) + "\n" + "\n".join(options),
        options,
        [_strip_prefix(o) for o in options],
        options[LETTERS.index(answer)],
    )


def _nextqa(row: dict, where: str, config: str):
    options = [str(column(row, f"a{j}", where, (str, int))) for j in range(5)]
    return (
        str(column(row, "video", where, (str, int))),
        column(row, "question", where) + _options(options),
        options,
        options,
        options[int(column(row, "answer", where, (int, str)))],
    )


def _egoschema(row: dict, where: str, config: str):
    options = [str(o) for o in column(row, "option", where, list)]
    return (
        str(column(row, "video_idx", where, (str, int))),
        column(row, "question", where) + " ".join(options),
        options,
        [_strip_prefix(o) for o in options],
        options[int(column(row, "answer", where, (str, int)))],
    )


def _mvbench(row: dict, where: str, config: str):
    cands = [str(c) for c in column(row, "candidates", where, list)]
    answer = str(column(row, "answer", where, (str, int)))
    if answer not in cands:
        raise InputError(f"{where}: answer {answer!r} is not among the candidates {cands}")
    lettered = [f"({LETTERS[j]}) {c}" for j, c in enumerate(cands)]
    return (
        f"{config}/{column(row, 'video', where)}",
        column(row, "question", where) + _options(cands),
        lettered,
        lettered,
        lettered[cands.index(answer)],
    )


def _activitynet(row: dict, where: str, config: str):
    return (
        f"v_{column(row, 'video_name', where)}",
        column(row, "question", where) + P.V2_YES_NO_OPTIONS,
        ["yes", "no"],
        ["yes", "no"],
        column(row, "answer", where),
    )


QA_PARSERS = {
    "videomme": _videomme,
    "nextqa": _nextqa,
    "egoschema": _egoschema,
    "mvbench": _mvbench,
    "activitynet": _activitynet,
}
FAMILIES: dict[str, Callable[[TaskSpec], RowFn]] = {
    "video-cls": _cls,
    "video-ret": _ret,
    "video-mret": _mret,
    "video-momentseeker": _momentseeker,
    **{f"video-qa-{k}": _qa(k) for k in QA_PARSERS},
}


def load_video_task(spec: TaskSpec, source: DataSource) -> RankData:
    """Rows of a video task -> `RankData` (global CLS: the full label list when known, else the
    labels seen in the rows, noted in the result)."""
    root = frame_root(spec, source)
    builder = PoolBuilder(spec.name, local=spec.protocol == "local", skip_missing=source.skip_missing)
    add = FAMILIES[spec.format](spec)
    if spec.format == "video-cls" and spec.protocol == "global":
        full = labels_file(spec, source) or (list(BREAKFAST_LABELS) if spec.name == "Breakfast" else None)
        if full is None:
            builder.notes.append(
                "label pool = the labels seen in the rows (give <data-dir>/<Task>/labels.txt for the "
                "full published list)"
            )
    for i, (where, row, config) in enumerate(iter_task_rows(spec, source)):
        add(builder, i, f"task {spec.name}: {where}", row, config, root)
    if spec.format == "video-cls" and spec.protocol == "global" and full:
        for label in full:
            builder.candidate(label, Item(text=label))
    return builder.build()


for _fmt in FAMILIES:
    register_loader(_fmt)(load_video_task)
