"""Real multilingual image-text pairs: Noto Color Emoji glyphs named in Unicode CLDR.

Two on-disk forms hold the same records:
- a folder in the `emoji_cldr` layout (`emoji.jsonl` + `images/*.png`), written by
  `mme5 data build-emoji` (see `mme5.data.emoji_build`);
- a compact *pack* shipped inside the package (`emoji_subset/`): every image downscaled into one
  PNG sheet plus the names as gzipped JSON lines, so the quickstart needs nothing outside mme5.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..provenance import write_json
from ..types import ImageLike, InputError, MissingFileError

# The 11 languages of XTD-10 plus its MIC (de, fr) and STAIR (ja) additions.
XTD_LANGUAGES = ("en", "de", "fr", "it", "es", "ru", "pl", "tr", "zh", "ko", "ja")
LICENSE_FILES = ("LICENSE-Unicode-DFS-2016.txt", "LICENSE-font-OFL-1.1.txt")
PACK_FORMAT = 1
PACK_FILES = ("pack.json", "sheet.png", "emoji.jsonl.gz")


@dataclass(frozen=True)
class EmojiRecord:
    """One emoji: its image and its CLDR short name per language code."""

    id: str
    emoji: str
    kind: str
    image: ImageLike
    names: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class EmojiSet:
    """All records of one source, in a fixed order (the order defines image indices)."""

    records: tuple[EmojiRecord, ...]
    source: str

    def __len__(self) -> int:
        return len(self.records)

    @property
    def languages(self) -> list[str]:
        """Every language that names at least one image, sorted."""
        return sorted({lang for r in self.records for lang in r.names})


def _check_row(row: object, where: str) -> dict:
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object")
    for key in ("id", "name"):
        if key not in row:
            raise InputError(f"{where}: missing field {key!r}")
    names = row["name"]
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise InputError(f"{where}: field 'name' must map language codes to strings")
    return row


def _read_rows(lines: Iterable[str], where: str) -> list[dict]:
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}:{lineno}: invalid JSON ({exc.msg})") from None
        rows.append(_check_row(row, f"{where}:{lineno}"))
    if not rows:
        raise InputError(f"{where}: no records")
    return rows


def load_emoji_dir(path: str | Path) -> EmojiSet:
    """Read a folder in the `emoji_cldr` layout; image paths are resolved against it (lazily opened)."""
    root = Path(path)
    index = root / "emoji.jsonl"
    if not index.is_file():
        raise MissingFileError(f"{root}: no emoji.jsonl; build one with `mme5 data build-emoji --out {root}`")
    with index.open(encoding="utf-8") as fh:
        rows = _read_rows(fh, str(index))
    records = []
    for i, row in enumerate(rows):
        image = root / row.get("image", f"images/{row['id']}.png")
        if not image.is_file():
            raise InputError(f"{index}: record {i} ({row['id']}): image file not found: {image}")
        records.append(EmojiRecord(row["id"], row.get("emoji", ""), row.get("kind", "emoji"), image, row["name"]))
    return EmojiSet(tuple(records), source=str(root))


def packaged_dir() -> Path:
    """The pack shipped inside mme5 (see `pack_emoji`)."""
    return Path(__file__).resolve().parent / "emoji_subset"


def load_pack(path: str | Path | None = None) -> EmojiSet:
    """Read a pack (default: the one shipped with mme5); images come back as PIL images."""
    root = Path(path) if path is not None else packaged_dir()
    missing = [f for f in PACK_FILES if not (root / f).is_file()]
    if missing:
        raise MissingFileError(f"{root}: not an emoji pack, missing {missing}; write one with `mme5 data pack-emoji`")
    meta = json.loads((root / "pack.json").read_text(encoding="utf-8"))
    if meta.get("format") != PACK_FORMAT:
        raise InputError(f"{root}/pack.json: pack format {meta.get('format')!r}, this mme5 reads {PACK_FORMAT}")
    with gzip.open(root / "emoji.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = _read_rows(fh, str(root / "emoji.jsonl.gz"))
    side, columns = int(meta["side"]), int(meta["columns"])
    with Image.open(root / "sheet.png") as sheet_file:
        sheet = sheet_file.convert("RGB")
    needed = math.ceil(len(rows) / columns) * side
    if sheet.width < columns * side or sheet.height < needed:
        raise InputError(
            f"{root}/sheet.png: {sheet.width}x{sheet.height} px is too small for {len(rows)} tiles of {side} px"
        )
    records = []
    for i, row in enumerate(rows):
        y, x = divmod(i, columns)
        tile = sheet.crop((x * side, y * side, (x + 1) * side, (y + 1) * side))
        records.append(EmojiRecord(row["id"], row.get("emoji", ""), row.get("kind", "emoji"), tile, row["name"]))
    return EmojiSet(tuple(records), source=str(root))


def load_emoji(source: str | Path | None = None) -> EmojiSet:
    """None -> the shipped pack; a folder with `pack.json` -> that pack; else an `emoji_cldr` folder."""
    if source is None or (Path(source) / "pack.json").is_file():
        return load_pack(source)
    return load_emoji_dir(source)


def pack_emoji(
    src: str | Path,
    out: str | Path,
    *,
    side: int = 56,
    languages: Sequence[str] | None = None,
    colors: int = 256,
) -> Path:
    """Write a compact pack of an `emoji_cldr` folder: one `side`-px PNG sheet + gzipped names.

    The sheet is quantised to one `colors`-entry palette (emoji art is flat-coloured: at 256
    colours the mean error is 2.5/255, at most 8.5/255 for one image), ~4x smaller than true colour.
    """
    data = load_emoji_dir(src)
    keep = set(languages) if languages else None
    columns = math.ceil(math.sqrt(len(data)))
    rows = math.ceil(len(data) / columns)
    sheet = Image.new("RGB", (columns * side, rows * side), "white")
    lines = []
    for i, rec in enumerate(data.records):
        with Image.open(rec.image) as img:  # type: ignore[arg-type]  # emoji_cldr records are paths
            tile = img.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
        y, x = divmod(i, columns)
        sheet.paste(tile, (x * side, y * side))
        names = {k: v for k, v in rec.names.items() if keep is None or k in keep}
        lines.append(
            json.dumps({"id": rec.id, "emoji": rec.emoji, "kind": rec.kind, "name": names}, ensure_ascii=False)
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if colors:
        sheet = sheet.quantize(colors, method=Image.Quantize.MEDIANCUT, kmeans=2, dither=Image.Dither.NONE)
    sheet.save(out / "sheet.png", optimize=True)
    # mtime=0 keeps the file byte-identical across rebuilds
    with (
        open(out / "emoji.jsonl.gz", "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz,
    ):
        gz.write(("\n".join(lines) + "\n").encode("utf-8"))
    for name in LICENSE_FILES:
        if (Path(src) / name).is_file():
            shutil.copyfile(Path(src) / name, out / name)
    write_json(
        out / "pack.json",
        {
            "format": PACK_FORMAT,
            "side": side,
            "columns": columns,
            "count": len(data),
            "colors": colors,
            "languages": sorted({k for line in lines for k in json.loads(line)["name"]}),
            "built_from": Path(src).name,
        },
    )
    return out
