"""The task registry: MMEB's 36 datasets with their metadata, XTD's languages, named benchmarks."""
from __future__ import annotations

from collections import Counter

import pytest

from mme5.evaluation.catalog import XTD_FILES
from mme5.evaluation.tasks import all_tasks, benchmarks, custom_task, get_task, resolve_tasks
from mme5.types import InputError


def test_mmeb_has_36_datasets_in_the_published_groups():
    mmeb = [t for t in all_tasks() if t.family == "mmeb"]
    assert len(mmeb) == 36 and len({t.hub_config for t in mmeb}) == 36
    assert Counter(t.meta_task for t in mmeb) == {"classification": 10, "vqa": 10, "retrieval": 12, "grounding": 4}
    assert Counter(t.split for t in mmeb) == {"IND": 20, "OOD": 16}
    assert all(t.hub_id == "TIGER-Lab/MMEB-eval" and t.metric == "precision@1" for t in mmeb)
    assert get_task("hatefulmemes").n_candidates == 2 and get_task("VisDial").modality == "T -> I"
    assert get_task("Visual7W-Pointing").meta_task == "grounding" and get_task("OVEN").split == "OOD"


def test_named_benchmarks():
    b = benchmarks()
    assert len(b["mmeb"]) == 36 and len(b["mmeb-ind"]) == 20 and len(b["mmeb-ood"]) == 16
    assert set(b["mmeb-ind"]) | set(b["mmeb-ood"]) == set(b["mmeb"])
    assert [len(b[f"mmeb-{m}"]) for m in ("classification", "vqa", "retrieval", "grounding")] == [10, 10, 12, 4]
    assert [get_task(n).language for n in b["xtd"]] == ["it", "es", "ru", "zh", "pl", "tr", "ko"]
    assert sorted(get_task(n).language for n in b["xtd-11"]) == sorted(XTD_FILES)
    assert XTD_FILES["ja"] == ("STAIR", "jp") and XTD_FILES["de"][0] == "MIC"


def test_resolve_mixes_benchmarks_and_tasks_without_duplicates():
    specs = resolve_tasks(["mmeb-grounding", "MSCOCO", "xtd-it"])
    assert [s.name for s in specs] == ["MSCOCO", "RefCOCO", "RefCOCO-Matching", "Visual7W-Pointing", "xtd-it"]


def test_unknown_names_get_close_matches():
    with pytest.raises(InputError, match="did you mean 'ImageNet-1K'"):
        get_task("imagenet1k")
    with pytest.raises(InputError, match="'mmeb-vqa'"):
        resolve_tasks(["mmeb-vqq"])


def test_custom_tasks_keep_registered_metadata():
    assert custom_task("N24News").meta_task == "classification"
    mine = custom_task("my_shop_search")
    assert mine.family == "custom" and mine.hub_config == "my_shop_search"
