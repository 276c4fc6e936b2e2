"""The registered tasks: MMEB's 36 image datasets and XTD-10's 11 languages, and named benchmarks.

Metadata from the VLM2Vec paper (Table 1) and the released `TIGER-Lab/MMEB-eval` configs; XTD as
in the adobe-research repository and the hub copy `Haon-Chen/XTD-10` that mmE5 evaluates.
"""

from __future__ import annotations

from .tasks import META_TASKS, TaskSpec, register_benchmark, register_task

MMEB_HUB_ID = "TIGER-Lab/MMEB-eval"
XTD_HUB_ID = "Haon-Chen/XTD-10"

# name (= hub config), meta-task, IND/OOD, query -> target, candidates per query
_MMEB: tuple[tuple[str, str, str, str, int], ...] = (
    ("ImageNet-1K", "classification", "IND", "I -> T", 1000),
    ("N24News", "classification", "IND", "I+T -> T", 24),
    ("HatefulMemes", "classification", "IND", "I -> T", 2),
    ("VOC2007", "classification", "IND", "I -> T", 20),
    ("SUN397", "classification", "IND", "I -> T", 397),
    ("Place365", "classification", "OOD", "I -> T", 365),
    ("ImageNet-A", "classification", "OOD", "I -> T", 1000),
    ("ImageNet-R", "classification", "OOD", "I -> T", 200),
    ("ObjectNet", "classification", "OOD", "I -> T", 313),
    ("Country211", "classification", "OOD", "I -> T", 211),
    ("OK-VQA", "vqa", "IND", "I+T -> T", 1000),
    ("A-OKVQA", "vqa", "IND", "I+T -> T", 1000),
    ("DocVQA", "vqa", "IND", "I+T -> T", 1000),
    ("InfographicsVQA", "vqa", "IND", "I+T -> T", 1000),
    ("ChartQA", "vqa", "IND", "I+T -> T", 1000),
    ("Visual7W", "vqa", "IND", "I+T -> T", 1000),
    ("ScienceQA", "vqa", "OOD", "I+T -> T", 1000),
    ("VizWiz", "vqa", "OOD", "I+T -> T", 1000),
    ("GQA", "vqa", "OOD", "I+T -> T", 1000),
    ("TextVQA", "vqa", "OOD", "I+T -> T", 1000),
    ("VisDial", "retrieval", "IND", "T -> I", 1000),
    ("CIRR", "retrieval", "IND", "I+T -> I", 1000),
    ("VisualNews_t2i", "retrieval", "IND", "T -> I", 1000),
    ("VisualNews_i2t", "retrieval", "IND", "I -> T", 1000),
    ("MSCOCO_t2i", "retrieval", "IND", "T -> I", 1000),
    ("MSCOCO_i2t", "retrieval", "IND", "I -> T", 1000),
    ("NIGHTS", "retrieval", "IND", "I -> I", 1000),
    ("WebQA", "retrieval", "IND", "T -> I+T", 1000),
    ("OVEN", "retrieval", "OOD", "I+T -> I+T", 1000),
    ("FashionIQ", "retrieval", "OOD", "I+T -> I", 1000),
    ("EDIS", "retrieval", "OOD", "T -> I+T", 1000),
    ("Wiki-SS-NQ", "retrieval", "OOD", "T -> I", 1000),
    ("MSCOCO", "grounding", "IND", "I+T -> I", 1000),
    ("RefCOCO", "grounding", "OOD", "I+T -> I", 1000),
    ("RefCOCO-Matching", "grounding", "OOD", "I+T -> I+T", 1000),
    ("Visual7W-Pointing", "grounding", "OOD", "I+T -> I", 1000),
)

# ISO code -> (folder of the original layout, code in the caption file name)
XTD_FILES: dict[str, tuple[str, str]] = {
    **{lang: ("XTD10", lang) for lang in ("en", "es", "it", "ko", "pl", "ru", "tr", "zh")},
    "de": ("MIC", "de"),
    "fr": ("MIC", "fr"),
    "ja": ("STAIR", "jp"),  # upstream names the Japanese file `jp`
}
XTD_MME5_LANGUAGES = ("it", "es", "ru", "zh", "pl", "tr", "ko")  # mmE5's "XTD" average, in its order
XTD_HUB_LANGUAGES = ("es", "it", "ko", "pl", "ru", "tr", "zh")  # subsets of Haon-Chen/XTD-10


def xtd_task_name(language: str) -> str:
    return f"xtd-{language}"


def _register() -> None:
    for name, meta, split, modality, n_cand in _MMEB:
        register_task(
            TaskSpec(
                name=name,
                family="mmeb",
                meta_task=meta,  # type: ignore[arg-type]
                split=split,  # type: ignore[arg-type]
                modality=modality,
                n_candidates=n_cand,
                hub_id=MMEB_HUB_ID,
                hub_config=name,
            )
        )
    for lang in XTD_FILES:
        register_task(
            TaskSpec(
                name=xtd_task_name(lang),
                family="xtd",
                meta_task="xtd",
                format="xtd",
                modality="T -> I",
                n_candidates=1000,
                language=lang,
                metric="recall@10",
                hub_id=XTD_HUB_ID,
                hub_config=lang,
                description=f"XTD-10 {lang} caption -> image",
            )
        )

    register_benchmark("mmeb", [row[0] for row in _MMEB])
    register_benchmark("mmeb-ind", [row[0] for row in _MMEB if row[2] == "IND"])
    register_benchmark("mmeb-ood", [row[0] for row in _MMEB if row[2] == "OOD"])
    for meta in META_TASKS:
        register_benchmark(f"mmeb-{meta}", [row[0] for row in _MMEB if row[1] == meta])
    register_benchmark("xtd", [xtd_task_name(lang) for lang in XTD_MME5_LANGUAGES])
    register_benchmark("xtd-11", [xtd_task_name(lang) for lang in XTD_FILES])


_register()
