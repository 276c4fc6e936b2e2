"""Read MMEB-eval-format rows (`qry_text`, `qry_img_path`, `tgt_text` list, `tgt_img_path` list;
candidate 0 is the positive) from the hub or a local folder, and turn them into `EvalData`.

Local layouts, looked up in this order for a task whose hub config is C:
`DIR/C/` written by `Dataset.save_to_disk`, parquet (`DIR/C.parquet` or `DIR/C/*.parquet`, the
hub's own file layout), JSON lines (`DIR/C.jsonl` or `DIR/C/*.jsonl`). Image paths in the rows are
relative to the image root (`--image-dir`, default DIR).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..data.schema import resolve_image, string_column
from ..types import InputError, Item, MissingFileError
from .data import EvalData, RowsBuilder
from .tasks import TaskSpec

COLUMNS = ("qry_text", "qry_img_path", "tgt_text", "tgt_img_path")
PARTS = ("queries", "corpus", "qrels")  # a BEIR folder (mmeb_v2/beir.py reads it)


@dataclass(frozen=True)
class DataSource:
    """Where task data comes from: `data_dir` None means the hub (`load_dataset(hub_id, config)`)."""

    data_dir: str | None = None
    image_dir: str | None = None
    skip_missing: bool = False
    max_rows: int | None = None
    protocol: str = "mme5"
    """How rows become items: `mme5` (MMEB-eval form, instructions joined into the text) or
    `qwen3-vl-embedding` (Qwen's evaluation code: mmeb_v2/qwen_protocol.py); the Runner sets it
    from the model's profile."""

    def image_root(self) -> Path | None:
        if self.image_dir:
            return Path(self.image_dir)
        return Path(self.data_dir) if self.data_dir else None


Loader = Callable[[TaskSpec, DataSource], Any]  # EvalData, or mmeb_v2.data.RankData
LOADERS: dict[str, Loader] = {}


LoaderT = TypeVar("LoaderT", bound=Callable[..., Any])


def register_loader(fmt: str) -> Callable[[LoaderT], LoaderT]:
    """Decorator: `fn` loads tasks whose `TaskSpec.format` is `fmt`."""

    def wrap(fn: LoaderT) -> LoaderT:
        LOADERS[fmt] = fn
        return fn

    return wrap


def load_task(spec: TaskSpec, source: DataSource) -> EvalData:
    """The loader registered for `spec.format` reads the task from `source`."""
    if spec.format == "xtd":
        from . import xtd  # noqa: F401  (registers the "xtd" loader)
    elif spec.format not in LOADERS:
        from .mmeb_v2 import beir, video  # noqa: F401  (register the MMEB-V2 loaders)
    if spec.format not in LOADERS:
        raise InputError(f"task {spec.name}: no loader for format {spec.format!r} (known: {sorted(LOADERS)})")
    return LOADERS[spec.format](spec, source)


def find_local(data_dir: str | Path, config: str) -> tuple[str, list[Path]] | None:
    """(kind, files) holding subset `config` inside `data_dir`: kind is "disk" (a save_to_disk
    folder), "parquet" or "jsonl"; None when nothing is there."""
    root = Path(data_dir)
    folder = root / config
    if (folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file():
        return "disk", [folder]
    for kind in ("parquet", "jsonl"):
        if (root / f"{config}.{kind}").is_file():
            return kind, [root / f"{config}.{kind}"]
        files = sorted(folder.glob(f"*.{kind}")) if folder.is_dir() else []
        if files:
            return kind, files
    return None


def beir_files(folder: Path, part: str) -> list[Path]:
    """The files holding one part of a BEIR folder (jsonl or parquet), [] when absent."""
    for path in (folder / f"{part}.jsonl", folder / f"{part}.parquet"):
        if path.is_file():
            return [path]
    sub = folder / part
    return sorted(sub.glob("*.parquet")) + sorted(sub.glob("*.jsonl")) if sub.is_dir() else []


def is_beir_folder(folder: Path) -> bool:
    """True when `folder` holds queries, corpus and qrels in a readable form."""
    return folder.is_dir() and all(beir_files(folder, part) for part in PARTS)


def local_subsets(data_dir: str | Path) -> list[str]:
    """Names of the MMEB-format subsets found in a folder (for `mme5 eval tasks`)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise MissingFileError(f"data folder not found: {root}")
    names = {p.stem for p in root.iterdir() if p.is_file() and p.suffix in (".parquet", ".jsonl")}
    names |= {
        p.name for p in root.iterdir() if p.is_dir() and find_local(root, p.name) is not None and not is_beir_folder(p)
    }
    return sorted(names)


def local_collections(data_dir: str | Path) -> list[str]:
    """Names of the BEIR-layout folders (queries + corpus + qrels) in a folder: document collections."""
    root = Path(data_dir)
    return sorted(p.name for p in root.iterdir() if is_beir_folder(p)) if root.is_dir() else []


def present_locally(spec: TaskSpec, data_dir: str | Path) -> bool:
    """Whether `data_dir` holds the data of `spec` in a layout its loader reads."""
    if spec.format.startswith("beir"):
        return is_beir_folder(Path(data_dir) / spec.name)
    if spec.format.startswith("video"):
        return find_local(data_dir, spec.name) is not None
    if spec.format == "mmeb-rows":
        return find_local(data_dir, spec.hub_config) is not None
    return True


def iter_rows(spec: TaskSpec, source: DataSource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) pairs; `where` names the file and line or row for error messages."""
    if source.data_dir is None:
        from datasets import load_dataset  # the real hub path (not reachable offline)

        from .mmeb_v2 import qwen_protocol

        instruct = source.protocol == qwen_protocol.PROTOCOL and spec.family == "mmeb"
        hub_id = qwen_protocol.HUB_ID if instruct else spec.hub_id
        ds = load_dataset(hub_id, spec.hub_config, split=spec.hub_split)
        yield from ((f"{hub_id}/{spec.hub_config} row {i}", r) for i, r in enumerate(ds))
        return
    found = find_local(source.data_dir, spec.hub_config)
    if found is None:
        raise MissingFileError(
            f"task {spec.name}: no data for subset {spec.hub_config!r} in {source.data_dir} (looked for a "
            f"save_to_disk folder, {spec.hub_config}.parquet/.jsonl, or {spec.hub_config}/*.parquet|*.jsonl)"
        )
    kind, files = found
    if kind == "disk":
        from datasets import load_from_disk

        ds = load_from_disk(str(files[0]))
        if hasattr(ds, "keys"):  # a DatasetDict: take the hub split
            ds = ds[spec.hub_split]
        yield from ((f"{files[0]} row {i}", r) for i, r in enumerate(ds))
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for file in files:
            yield from ((f"{file} row {i}", r) for i, r in enumerate(pq.read_table(file).to_pylist()))
    else:
        for file in files:
            yield from _jsonl(file)


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None


def parse_row(
    where: str, row: dict[str, Any], image_root: Path | None, language: str | None = None
) -> tuple[Item, list[Item]]:
    """One MMEB-format row -> (query, candidates); errors name the row and the field."""
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; MMEB-eval rows need {list(COLUMNS)}")
    texts, images = row["tgt_text"], row["tgt_img_path"]
    if isinstance(texts, str) and isinstance(images, str):  # a single candidate stored as strings
        texts, images = [texts], [images]
    if not isinstance(texts, list) or not isinstance(images, list):
        raise InputError(
            f"{where}: tgt_text and tgt_img_path must be lists (got {type(texts).__name__} and {type(images).__name__})"
        )
    if len(texts) != len(images):
        raise InputError(
            f"{where}: tgt_text has {len(texts)} candidates but tgt_img_path has {len(images)}; "
            "they must pair up one to one"
        )
    q_inst, t_inst = (
        string_column(row.get("qry_inst"), where, "qry_inst"),
        string_column(row.get("tgt_inst"), where, "tgt_inst"),
    )
    query = Item(
        text=_with_instruction(q_inst, string_column(row["qry_text"], where, "qry_text")),
        image=resolve_image(row["qry_img_path"], image_root, where),
        language=language,
    )
    cands = [
        Item(
            text=_with_instruction(t_inst, string_column(t, where, "tgt_text")),
            image=resolve_image(p, image_root, where),
        )
        for t, p in zip(texts, images)
    ]
    return query, cands


def _with_instruction(instruction: str, text: str) -> str:
    """MMEB-V2's image rows (`ziyjiang/MMEB_Test_Instruct`) keep the instruction apart
    (`qry_inst`, `tgt_inst`, placeholder included): joined back as `inst + " " + text`, the
    MMEB-eval form; rows without one (V1, or raw label / answer candidates) are unchanged."""
    if not instruction:
        return text
    return f"{instruction} {text}" if text else instruction


@register_loader("mmeb-rows")
def load_mmeb_rows(spec: TaskSpec, source: DataSource, language: str | None = None) -> EvalData:
    """Rows of one MMEB-format subset -> EvalData with the per-row protocol."""
    if source.data_dir is None and source.image_dir is None:
        raise InputError(
            f"task {spec.name}: reading {spec.hub_id} from the hub needs --image-dir (the "
            "folder where the dataset's image archive was unpacked)"
        )
    from .mmeb_v2 import qwen_protocol

    builder = RowsBuilder(spec.name, skip_missing=source.skip_missing)
    root = source.image_root()
    # MMEB's own tasks under Qwen3-VL-Embedding's protocol read its MMEB_Test_Instruct rows; your own
    # MMEB-format tasks keep the MMEB-eval form (their rows carry no separate instruction)
    qwen = source.protocol == qwen_protocol.PROTOCOL and spec.family != "custom"
    kind = qwen_protocol.row_kind(spec) if qwen else ""
    for i, (where, row) in enumerate(iter_rows(spec, source)):
        if source.max_rows is not None and i >= source.max_rows:
            break
        at = f"task {spec.name}: {where}"
        lang = language or spec.language
        query, cands = qwen_protocol.instruct_row(at, row, root, lang, kind) if qwen else parse_row(at, row, root, lang)
        builder.add(i, query, cands, positive=0)
    return builder.build()
