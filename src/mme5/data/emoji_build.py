"""Build the emoji <-> CLDR-name dataset from its two sources: a colour emoji font and the Unicode
CLDR annotation files (Debian packages `fonts-noto-color-emoji` and `unicode-cldr-core`).

Recipe (the one that produced `emoji_cldr`): CLDR `en` entries that are fully-qualified emoji
(U+FE0F restored), minus skin-tone variants; each rendered with Pillow's RAQM layout (so ZWJ
sequences, keycaps and flags become one glyph), cropped, centred on white and resized; groups that
render to identical pixels dropped; languages kept where >= 80% of the images have a name.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

from ..provenance import write_json
from ..types import InputError, MissingFileError
from .emoji import LICENSE_FILES, XTD_LANGUAGES

DEBIAN_PACKAGES = ("fonts-noto-color-emoji", "unicode-cldr-core")
FONT_IN_DEB = "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
CLDR_IN_DEB = "usr/share/unicode/cldr/common"
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
SKIPPED_DRAFTS = {"unconfirmed", "provisional"}
XTD_FILES = {
    "es": "XTD10",
    "it": "XTD10",
    "ko": "XTD10",
    "pl": "XTD10",
    "ru": "XTD10",
    "tr": "XTD10",
    "zh": "XTD10",
    "en": "XTD10",
    "de": "MIC",
    "fr": "MIC",
    "ja": "STAIR",
}

# (CLDR cp string without U+FE0F) -> its fully-qualified form, or None if it is not an emoji
Qualifier = Callable[[str], "str | None"]


def fetch_debian_sources(work: Path) -> tuple[Path, Path, dict[str, Path]]:
    """`apt-get download` both packages and unpack them with `dpkg-deb -x` (nothing is installed)."""
    work.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=work, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise InputError("apt-get not found: pass --font and --cldr instead (see docs/quickstart.md)") from None
    except subprocess.CalledProcessError as exc:
        raise InputError(f"apt-get download {' '.join(DEBIAN_PACKAGES)} failed: {exc.stderr.strip()}") from None
    root = work / "unpacked"
    for deb in sorted(work.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    docs = root / "usr/share/doc"
    licenses = {
        LICENSE_FILES[0]: docs / "unicode-cldr-core/copyright",
        LICENSE_FILES[1]: docs / "fonts-noto-color-emoji/copyright",
    }
    return root / FONT_IN_DEB, root / CLDR_IN_DEB, licenses


def emoji_package_qualifier() -> Qualifier:
    """Fully-qualified forms from the PyPI `emoji` package (as the published dataset was built)."""
    try:
        import emoji
    except ImportError:
        raise InputError("building the emoji data needs the `emoji` package: pip install 'mme5[data]'") from None
    full = {
        k.replace("\ufe0f", ""): k
        for k, v in emoji.EMOJI_DATA.items()
        if v["status"] == emoji.STATUS["fully_qualified"]
    }
    return full.get


def read_annotations(cldr_common: Path) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, list[str]]]]:
    """{language: {cp: tts name}} and {language: {cp: keywords}}, merging annotations + derived."""
    names: dict[str, dict[str, str]] = defaultdict(dict)
    keywords: dict[str, dict[str, list[str]]] = defaultdict(dict)
    folders = [cldr_common / "annotations", cldr_common / "annotationsDerived"]
    if not folders[0].is_dir():
        raise MissingFileError(f"{cldr_common}: no annotations/ folder; pass CLDR's `common` directory")
    for folder in folders:
        for path in sorted(folder.glob("*.xml")):
            lang = path.stem
            if "_" in lang and lang != "zh_Hant":  # base locales only (regional variants repeat them)
                continue
            try:
                tree = ET.parse(path)
            except ET.ParseError as exc:
                raise InputError(f"{path}: not valid XML ({exc})") from None
            for node in tree.iter("annotation"):
                text, cp = (node.text or "").strip(), node.get("cp")
                if not cp or not text or text == "↑↑↑" or node.get("draft") in SKIPPED_DRAFTS:
                    continue
                if node.get("type") == "tts":
                    names[lang][cp] = text
                else:
                    keywords[lang][cp] = [k.strip() for k in text.split("|") if k.strip()]
    if "en" not in names:
        raise InputError(f"{cldr_common}: no English annotations (annotations/en.xml)")
    return names, keywords


def render(font: ImageFont.FreeTypeFont, text: str, size: int) -> Image.Image | None:
    """One glyph cropped to its ink, centred on a white square 8 px wider than it, resized to `size`;
    None if the sequence did not ligate into one glyph (wider than 150 px at Noto's 109 px size)."""
    max_width = round(font.size * 150 / 109)
    canvas = Image.new("RGBA", (max_width * 3, max_width * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((max_width // 2, max_width // 2), text, font=font, embedded_color=True, fill="black")
    box = canvas.getchannel("A").getbbox()
    if box is None or box[2] - box[0] > max_width:
        return None
    glyph = canvas.crop(box)
    side = max(glyph.size) + 8
    square = Image.new("RGB", (side, side), "white")
    square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2), glyph)
    return square.resize((size, size), Image.Resampling.LANCZOS)


def build_emoji_dataset(
    out: str | Path,
    font_path: str | Path,
    cldr_common: str | Path,
    *,
    size: int = 96,
    font_size: int = 109,
    qualifier: Qualifier | None = None,
    min_coverage: float = 0.8,
    licenses: dict[str, Path] | None = None,
    xtd_count: int = 1000,
) -> dict:
    """Write `emoji.jsonl`, `images/`, `stats.json`, licences and `xtd_format/` to `out`; return stats."""
    if not features.check("raqm"):
        raise InputError("Pillow lacks the RAQM layout engine (libraqm): ZWJ sequences and flags would fall apart")
    font_path, cldr_common, out = Path(font_path), Path(cldr_common), Path(out)
    if not font_path.is_file():
        raise MissingFileError(f"font file not found: {font_path}")
    qualify = qualifier or emoji_package_qualifier()
    names, keywords = read_annotations(cldr_common)
    font = ImageFont.truetype(str(font_path), font_size, layout_engine=ImageFont.Layout.RAQM)
    rendered: dict[str, tuple[str, Image.Image]] = {}
    rejected = []
    for cp in names["en"]:
        full = qualify(cp.replace("\ufe0f", ""))
        if full is None or SKIN_TONES & set(cp):
            continue
        image = render(font, full, size)
        if image is None:
            rejected.append(cp)
            continue
        rendered[cp] = (full, image)
    by_pixels: dict[bytes, list[str]] = defaultdict(list)
    for cp, (_, image) in rendered.items():
        by_pixels[hashlib.sha256(image.tobytes()).digest()].append(cp)
    identical = [group for group in by_pixels.values() if len(group) > 1]
    for group in identical:
        for cp in group:
            del rendered[cp]
    kept = _languages(names, list(rendered), min_coverage)
    records = _records(rendered, names, keywords, kept)
    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    lines = []
    for rec in records:
        rendered[rec.pop("_cp")][1].save(out / rec["image"])
        lines.append(rec)
    import json

    (out / "emoji.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    for name, src in (licenses or {}).items():
        if Path(src).is_file():
            shutil.copyfile(src, out / name)
    if xtd_count:
        _write_xtd(out, lines, xtd_count)
    stats = {
        "images": len(lines),
        "languages": kept,
        "names_per_language": {lg: sum(lg in r["name"] for r in lines) for lg in kept},
        "rejected_not_ligated": rejected,
        "dropped_identical": identical,
    }
    write_json(out / "stats.json", stats)
    return stats


def _languages(names: dict[str, dict[str, str]], cps: list[str], min_coverage: float) -> list[str]:
    return sorted(lg for lg, table in names.items() if sum(cp in table for cp in cps) >= min_coverage * len(cps))


def _records(rendered: dict, names: dict, keywords: dict, languages: list[str]) -> list[dict]:
    """One row per image; a name shared by two images of one language is dropped for both."""
    records = []
    for cp, (full, _) in sorted(rendered.items(), key=lambda kv: kv[1][0]):  # order by the emoji string
        ident = "-".join(f"{ord(c):x}" for c in cp if c != "\ufe0f")
        kind = "flag" if names["en"][cp].startswith("flag:") else "emoji"
        records.append(
            {
                "id": ident,
                "emoji": full,
                "kind": kind,
                "image": f"images/{ident}.png",
                "name": {lg: names[lg][cp] for lg in languages if cp in names[lg]},
                "keywords": {lg: keywords[lg][cp] for lg in XTD_LANGUAGES if cp in keywords.get(lg, {})},
                "_cp": cp,
            }
        )
    for lg in languages:
        counts: dict[str, int] = defaultdict(int)
        for r in records:
            if lg in r["name"]:
                counts[r["name"][lg]] += 1
        for r in records:
            if counts.get(r["name"].get(lg, ""), 0) > 1:
                del r["name"][lg]
    return records


def _write_xtd(out: Path, records: list[dict], count: int) -> None:
    """1,000 emoji (not flags) with a unique name in all 11 languages, in the XTD-10 file layout."""
    eligible = [r for r in records if r["kind"] == "emoji" and all(lg in r["name"] for lg in XTD_LANGUAGES)]
    random.Random(0).shuffle(eligible)
    chosen = eligible[:count]
    root = out / "xtd_format"
    (root / "XTD10").mkdir(parents=True, exist_ok=True)
    (root / "XTD10" / "test_image_names.txt").write_text(
        "".join(Path(r["image"]).name + "\n" for r in chosen), encoding="utf-8"
    )
    for lg, folder in XTD_FILES.items():
        (root / folder).mkdir(exist_ok=True)
        code = "jp" if lg == "ja" else lg
        (root / folder / f"test_1kcaptions_{code}.txt").write_text(
            "".join(r["name"][lg] + "\n" for r in chosen), encoding="utf-8"
        )


def build_from_debian(out: str | Path, *, size: int = 96, work: str | Path | None = None) -> dict:
    """Fetch the two Debian packages into `work` (a temp folder by default) and build."""
    with tempfile.TemporaryDirectory(prefix="mme5-emoji-") as tmp:
        font, cldr, licenses = fetch_debian_sources(Path(work) if work else Path(tmp))
        return build_emoji_dataset(out, font, cldr, size=size, licenses=licenses)
