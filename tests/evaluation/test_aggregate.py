"""Aggregation by the published rules reproduces the published figures."""
from __future__ import annotations

import pytest

from mme5.evaluation.aggregate import aggregate_mmeb, aggregate_xtd, summarize_run
from mme5.evaluation.published import MMEB_PUBLISHED, XTD_PUBLISHED
from mme5.evaluation.tasks import META_TASKS, benchmarks, get_task


def spread(meta_scores: dict[str, float]) -> dict[str, float]:
    """Per-dataset scores whose meta-task means are the given ones (not all equal: +-d around it)."""
    out = {}
    for meta in META_TASKS:
        names = [n for n in benchmarks()["mmeb"] if get_task(n).meta_task == meta]
        offsets = [(-1) ** i * 0.3 * (i // 2 + 1) for i in range(len(names))]
        offsets[-1] -= sum(offsets)  # keep the mean exact
        out.update({n: meta_scores[meta] + o for n, o in zip(names, offsets)})
    return out


@pytest.mark.parametrize("model", list(MMEB_PUBLISHED))
def test_overall_is_the_mean_over_36_datasets_as_published(model):
    published = MMEB_PUBLISHED[model]
    agg = aggregate_mmeb(spread({m: published[m] for m in META_TASKS}))
    for meta in META_TASKS:
        assert agg[meta]["score"] == pytest.approx(published[meta])
    assert round(agg["overall"]["score"], 1) == published["overall"]
    assert agg["overall"]["n"] == agg["overall"]["of"] == 36
    assert (agg["IND"]["of"], agg["OOD"]["of"]) == (20, 16)


def test_vlm2vec_example_from_the_spec():
    agg = aggregate_mmeb(spread({"classification": 61.2, "vqa": 49.9, "retrieval": 67.4, "grounding": 86.1}))
    assert round(agg["overall"]["score"], 1) == 62.9
    mean_of_four = (61.2 + 49.9 + 67.4 + 86.1) / 4
    assert round(mean_of_four, 1) == 66.2 and abs(agg["overall"]["score"] - mean_of_four) > 3


def test_ind_ood_split_means():
    scores = {n: (80.0 if get_task(n).split == "IND" else 40.0) for n in benchmarks()["mmeb"]}
    agg = aggregate_mmeb(scores)
    assert agg["IND"]["score"] == 80.0 and agg["OOD"]["score"] == 40.0
    assert agg["overall"]["score"] == pytest.approx((20 * 80 + 16 * 40) / 36)


def test_partial_runs_say_how_many_datasets_they_cover():
    agg = aggregate_mmeb({"ImageNet-1K": 50.0, "MSCOCO_t2i": 70.0})
    assert agg["classification"] == {"score": 50.0, "n": 1, "of": 10}
    assert agg["vqa"] == {"score": None, "n": 0, "of": 10}
    assert agg["overall"]["n"] == 2 and agg["overall"]["score"] == 60.0


@pytest.mark.parametrize("model", list(XTD_PUBLISHED))
def test_xtd_average_over_mme5_seven_languages(model):
    row = XTD_PUBLISHED[model]
    scores = {lang: v for lang, v in row.items() if lang != "avg"}
    scores["en"] = 0.0  # not one of the 7: must not enter the headline average
    agg = aggregate_xtd(scores)
    assert round(agg["xtd"]["score"], 1) == row["avg"]
    assert agg["xtd"]["n"] == 7 and agg["xtd-11"]["n"] == 8


def test_summarize_run_uses_both_tie_rules():
    results = [{"task": "ImageNet-1K", "family": "mmeb", "score": 100.0, "score_tie_aware": 0.0},
               {"task": "MSCOCO", "family": "mmeb", "score": 50.0, "score_tie_aware": 40.0}]
    summary = summarize_run(results)
    assert summary["mmeb"]["original"]["overall"]["score"] == 75.0
    assert summary["mmeb"]["tie_aware"]["overall"]["score"] == 20.0
    assert summary["mmeb"]["original"]["grounding"]["score"] == 50.0
