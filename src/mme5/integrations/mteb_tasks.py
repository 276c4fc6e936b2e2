"""Local mteb retrieval tasks (no hub): XTD-10 caption -> image in mteb's task format (mteb has no
XTD task), read from the original XTD file layout as `mme5 eval xtd` reads it, and a small
multilingual caption -> image task built from the packaged emoji data.

    task = xtd_task("data/xtd10", languages=["it", "es"])
    mteb.evaluate(load_mteb_model("out/merged"), task, cache=None)

mteb ranks each caption against the whole image gallery; its `recall_at_10` x 100 is the number
`mme5 eval xtd` reports for the same layout (gallery protocol, and row protocol when nothing ties)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata

from ..types import InputError


def _iso(language: str) -> str:
    from mteb.languages.iso_mappings import _hf_lang_to_iso_lang_script

    code = _hf_lang_to_iso_lang_script(language)
    if code is None:
        raise InputError(f"language {language!r} has no ISO 639-3 + script code in mteb's tables")
    return code


def _metadata(name: str, description: str, languages: Sequence[str], reference: str) -> TaskMetadata:
    return TaskMetadata(
        name=name,
        description=description,
        reference=reference,
        dataset={"path": f"local/{name}", "revision": "local"},
        type="Any2AnyRetrieval",
        category="t2i",
        eval_splits=["test"],
        eval_langs={lang: [_iso(lang)] for lang in languages},
        main_score="recall_at_10",
        date=None,
        domains=None,
        task_subtypes=["Image Text Retrieval"],
        license=None,
        annotations_creators=None,
        dialect=None,
        modalities=["text", "image"],
        sample_creation="found",
        bibtex_citation="",
    )


def _split(captions: Sequence[str], images: Sequence[Any]) -> dict[str, Any]:
    """One mteb retrieval split: caption i's only relevant document is image i."""
    from datasets import Dataset, Features, Image, Value

    corpus = Dataset.from_dict(
        {"id": [f"d{i}" for i in range(len(images))], "image": list(images)},
        features=Features({"id": Value("string"), "image": Image()}),
    )
    queries = Dataset.from_dict({"id": [f"q{i}" for i in range(len(captions))], "text": list(captions)})
    return {
        "corpus": corpus,
        "queries": queries,
        "relevant_docs": {f"q{i}": {f"d{i}": 1} for i in range(len(captions))},
        "top_ranked": None,
    }


class _LocalRetrieval(AbsTaskRetrieval):
    """A retrieval task whose splits are built in memory by `_build` (language -> (captions, images))."""

    def _build(self) -> dict[str, tuple[list[str], list[Any]]]:
        raise NotImplementedError

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        self.dataset = {lang: {"test": cast(Any, _split(*parts))} for lang, parts in self._build().items()}
        self.data_loaded = True


def xtd_task(
    layout_dir: str | Path,
    languages: Sequence[str] | None = None,
    *,
    image_dir: str | None = None,
    max_rows: int | None = None,
) -> AbsTaskRetrieval:
    """XTD-10 in mteb's format from the original layout (`XTD10/test_image_names.txt` + caption files);
    the images and captions are the ones `mme5 eval xtd --data-dir LAYOUT` reads."""
    from ..evaluation.xtd import find_image_dir, read_layout

    layout = read_layout(layout_dir, list(languages) if languages else None)
    image_root = find_image_dir(layout.root, layout.image_names, image_dir)
    n = min(len(layout.image_names), max_rows or len(layout.image_names))

    class XTD10T2IRetrieval(_LocalRetrieval):
        metadata = _metadata(
            "XTD10T2IRetrieval",
            "XTD-10: retrieve the image a caption describes (1,000 MSCOCO images, captions in 11 languages).",
            list(layout.captions),
            "https://github.com/adobe-research/Cross-lingual-Test-Dataset-XTD10",
        )

        def _build(self) -> dict[str, tuple[list[str], list[Any]]]:
            from PIL import Image

            images = [Image.open(image_root / name).convert("RGB") for name in layout.image_names[:n]]
            return {lang: (caps[:n], images) for lang, caps in layout.captions.items()}

    return XTD10T2IRetrieval()


def emoji_task(
    source: str | Path | None = None, languages: Sequence[str] = ("en", "de", "ja"), limit: int | None = 64
) -> AbsTaskRetrieval:
    """Caption (CLDR short name) -> emoji image, per language, from the packaged emoji data (or an
    `emoji_cldr` folder); only records named in every requested language, first `limit` of them."""
    from ..data.emoji import load_emoji
    from ..types import load_image

    records = [r for r in load_emoji(source).records if all(lang in r.names for lang in languages)][:limit]
    if not records:
        raise InputError(f"no emoji record is named in all of {list(languages)}")

    class EmojiT2IRetrieval(_LocalRetrieval):
        metadata = _metadata(
            "EmojiT2IRetrieval",
            "Retrieve the Noto emoji image its CLDR short name describes.",
            list(languages),
            "https://cldr.unicode.org/",
        )

        def _build(self) -> dict[str, tuple[list[str], list[Any]]]:
            images = [load_image(r.image, r.id) for r in records]
            return {lang: ([r.names[lang] for r in records], images) for lang in languages}

    return EmojiT2IRetrieval()
