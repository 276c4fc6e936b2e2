"""MMEB-V2 aggregation: the spec's meta-task numbers reproduce the published modality and
overall scores (overall = mean over 78 tasks, not over the 3 modalities); registry counts."""
from __future__ import annotations

import json

import pytest

from mme5.evaluation.mmeb_v2.catalog import META_GROUPS
from mme5.evaluation.mmeb_v2.leaderboard import aggregate_v2, leaderboard_json, leaderboard_scores, modality_tasks
from mme5.evaluation.published import MMEB_V2_PUBLISHED
from mme5.evaluation.tasks import get_task, resolve_tasks


def test_registry_counts_and_groups():
    tasks = modality_tasks()
    assert {m: len(v) for m, v in tasks.items()} == {"image": 36, "video": 18, "visdoc": 24}
    assert len(resolve_tasks(["mmeb-v2"])) == 78
    assert get_task("MSR-VTT").hub_config == "test_1k" and get_task("MSR-VTT").protocol == "global"
    assert get_task("YouCook2").hub_split == "val" and get_task("SmthSmthV2").row_limit == 1000
    assert len(get_task("MVBench").hub_configs) == 20 and get_task("ViDoSeek-page").hub_id == "VLM2Vec/ViDoSeek-page-fixed"
    assert get_task("VisRAG_PlotQA").hub_split == "train" and get_task("ViDoRe_esg_reports_v2").language == "english"
    assert "ViDoRe_esg_reports_v2" not in tasks["visdoc"]


def _per_task(model: str) -> dict[str, float]:
    """Every task gets its meta-task's published score."""
    from mme5.evaluation.mmeb_v2.catalog import v2_meta

    pub = MMEB_V2_PUBLISHED[model]
    return {name: pub[v2_meta(get_task(name))] for names in modality_tasks().values() for name in names}


@pytest.mark.parametrize("model", list(MMEB_V2_PUBLISHED))
def test_published_aggregates_reproduced(model):
    pub = MMEB_V2_PUBLISHED[model]
    agg = aggregate_v2(_per_task(model))
    for modality, metas in META_GROUPS.items():
        for meta in metas:
            assert agg[meta]["score"] == pytest.approx(pub[meta])
        assert agg[modality]["score"] == pytest.approx(pub[modality], abs=0.01)  # the meta numbers are rounded to 0.01
    assert agg["overall"]["score"] == pytest.approx(pub["overall"], abs=0.01)  # the meta numbers are rounded to 0.01
    assert agg["overall"]["n"] == agg["overall"]["of"] == 78


def test_vlm2vec_v2_overall_is_mean_over_78_tasks():
    agg = aggregate_v2(_per_task("VLM2Vec-V2.0-Qwen2VL-2B"))
    assert round(agg["overall"]["score"], 2) == 58.02
    modality_mean = sum(agg[m]["score"] for m in ("image", "video", "visdoc")) / 3
    assert round(modality_mean, 1) == 54.9  # what a mean of modalities would (wrongly) give
    partial = aggregate_v2({"K700": 40.0, "ViDoRe_arxivqa": 80.0})
    assert partial["overall"] == {"score": 60.0, "n": 2, "of": 78} and partial["V-CLS"]["of"] == 5


def test_leaderboard_json_layout(tmp_path):
    (tmp_path / "visdoc").mkdir()
    score = {"hit@1": 0.5, "ndcg_linear@5": 0.8, "num_pred": 2, "num_data": 2, "profile": "vlm2vec-v2"}
    (tmp_path / "visdoc" / "ViDoSeek-page_score.json").write_text(json.dumps(score))
    board = leaderboard_json(tmp_path, {"model_name": "m"})
    assert board["metrics"]["image"] == "DIR_N/A" and board["metrics"]["video"] == "DIR_N/A"
    visdoc = board["metrics"]["visdoc"]
    assert visdoc["ViDoSeek-page-fixed"] == {k: v for k, v in score.items() if k != "profile"}
    assert visdoc["ViDoRe_arxivqa"] == "FILE_N/A" and "ViDoSeek-page" not in visdoc
    assert board["metadata"]["data_source"] == "Self-Reported" and board["metadata"]["formatting_profile"] == "vlm2vec-v2"
    assert leaderboard_scores(board) == {"ViDoSeek-page": pytest.approx(80.0)}


@pytest.mark.parametrize("model", ["Qwen3-VL-Embedding-2B", "Qwen3-VL-Embedding-8B"])
def test_qwen3_vl_embedding_overall_is_the_task_weighted_mean_of_its_modalities(model):
    from mme5.evaluation.published import MMEB_V2_PUBLISHED_MODALITY

    pub = MMEB_V2_PUBLISHED_MODALITY[model]
    counts = {m: len(names) for m, names in modality_tasks().items()}
    mean = sum(pub[m] * counts[m] for m in ("image", "video", "visdoc")) / sum(counts.values())
    assert mean == pytest.approx(pub["overall"], abs=0.1)  # all published to 0.1: rounding adds up to 0.1
    assert pub["I-CLS"] is None  # meta-task scores are not published
