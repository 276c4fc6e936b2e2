"""`mme5 eval ... --rerank`: each query's first-stage top K rescored by the tiny reranker; the
files, metrics and report checked against the first stage's predictions and the Reranker itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mme5.cli.main import main


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory):
    from mme5.model.tiny import build_tiny

    return build_tiny("qwen3_vl", tmp_path_factory.mktemp("rr") / "r", reranker=True)


def test_two_stage_eval(capsys, tiny_dirs, tiny_reranker, mmeb_dir, tmp_path) -> None:
    from mme5 import Reranker
    from mme5.evaluation.loaders import DataSource, load_task
    from mme5.evaluation.mmeb_v2.data import from_eval_data
    from mme5.evaluation.tasks import resolve_tasks

    run = tmp_path / "run"
    args = ["eval", "mmeb", "MSCOCO_t2i", "--model", str(tiny_dirs("mllama")), "--data-dir", str(mmeb_dir)]
    args += ["--output", str(run), "--cache-dir", str(tmp_path / "cache"), "--no-chart"]
    assert main([*args, "--rerank", str(tiny_reranker), "--rerank-top-k", "2", "--compare-published"]) == 0
    out = capsys.readouterr().out
    assert "## Two-stage: first stage vs reranked" in out and "+ Qwen3-VL-Reranker-8B | 79.2" in out

    first = [json.loads(line) for line in (run / "image" / "MSCOCO_t2i_pred.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (run / "image" / "MSCOCO_t2i_rerank_pred.jsonl").read_text().splitlines()]
    score = json.loads((run / "image" / "MSCOCO_t2i_rerank_score.json").read_text())
    assert len(rows) == len(first) == score["num_data"]
    reranker = Reranker.from_pretrained(tiny_reranker)
    data = from_eval_data(load_task(resolve_tasks(["MSCOCO_t2i"])[0], DataSource(data_dir=str(mmeb_dir))))
    pool = {key: data.items[int(i)] for key, i in zip(data.pool_keys, data.pool_items)}
    hits = []
    for i, (row, before) in enumerate(zip(rows, first)):
        assert row["retrieved"] == before["prediction"][:2]  # the first stage's top 2, in its order
        expected = reranker.score(data.items[int(data.query_ids[i])], [pool[k] for k in row["retrieved"]])
        order = np.argsort(-np.asarray(expected), kind="stable")
        assert row["prediction"] == [row["retrieved"][j] for j in order]
        assert row["rerank_scores"] == pytest.approx([expected[j] for j in order], abs=1e-5)
        hits.append(row["prediction"][0] in row["label"])
    assert score["hit@1"] == pytest.approx(np.mean(hits))
    result = json.loads((run / "tasks" / "MSCOCO_t2i.json").read_text())
    assert result["rerank"]["score"] == pytest.approx(100 * np.mean(hits))
    assert result["rerank"]["top_k"] == 2 and result["rerank"]["pairs"] == 2 * len(rows)

    seconds = result["rerank"]["seconds"]
    assert main([*args, "--rerank", str(tiny_reranker), "--rerank-top-k", "2"]) == 0  # finished: reused
    assert json.loads((run / "tasks" / "MSCOCO_t2i.json").read_text())["rerank"]["seconds"] == seconds
    assert main([*args, "--rerank", str(tiny_reranker), "--rerank-top-k", "3"]) == 0  # another depth: redone
    assert json.loads((run / "tasks" / "MSCOCO_t2i.json").read_text())["rerank"]["top_k"] == 3


def test_two_stage_on_a_global_graded_pool(capsys, tiny_dirs, tiny_reranker, tmp_path_factory, tmp_path) -> None:
    """A visdoc task (BEIR layout, whole pool, graded qrels): the reranked NDCG@5 recomputed here
    from the reranked top 3 followed by the first stage's remaining order."""
    from mme5 import Reranker
    from mme5.evaluation.loaders import DataSource, load_task
    from mme5.evaluation.tasks import resolve_tasks

    from .mini_v2 import write_beir_jsonl
    from .test_v2_e2e import _ndcg5

    mini = tmp_path_factory.mktemp("mini")
    write_beir_jsonl(mini)
    run = tmp_path / "run"
    args = ["eval", "mmeb-v2", "ViDoRe_arxivqa", "--model", str(tiny_dirs("qwen2_vl")), "--data-dir", str(mini)]
    args += ["--output", str(run), "--no-chart", "--no-cache", "--rerank", str(tiny_reranker), "--rerank-top-k", "3"]
    assert main(args) == 0
    first = [json.loads(x) for x in (run / "visdoc" / "ViDoRe_arxivqa_pred.jsonl").read_text().splitlines()]
    rows = [json.loads(x) for x in (run / "visdoc" / "ViDoRe_arxivqa_rerank_pred.jsonl").read_text().splitlines()]
    score = json.loads((run / "visdoc" / "ViDoRe_arxivqa_rerank_score.json").read_text())
    data = load_task(resolve_tasks(["ViDoRe_arxivqa"])[0], DataSource(data_dir=str(mini)))
    pool = {key: data.items[int(i)] for key, i in zip(data.pool_keys, data.pool_items)}
    reranker = Reranker.from_pretrained(tiny_reranker)
    ndcgs = []
    for i, (row, before) in enumerate(zip(rows, first)):
        assert row["retrieved"] == before["prediction"][:3]
        expected = reranker.score(data.items[int(data.query_ids[i])], [pool[k] for k in row["retrieved"]])
        reranked = [row["retrieved"][j] for j in np.argsort(-np.asarray(expected), kind="stable")]
        assert row["prediction"] == reranked
        grades = dict(zip(row["label"], row["rel_scores"]))
        ndcgs.append(_ndcg5(reranked + before["prediction"][3:], grades))
    assert score["ndcg_linear@5"] == pytest.approx(np.mean(ndcgs), abs=1e-6)
