"""`mme5 init-tiny --reranker` and `mme5 rerank`: the printed scores are `Reranker.score`'s, best first."""

from __future__ import annotations

import json

import pytest

from mme5.cli.main import main


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "rr"
    assert main(["init-tiny", "--reranker", str(out)]) == 0
    return out


def test_rerank_cli_prints_the_scores_best_first(tiny_reranker, tmp_path) -> None:
    from mme5 import Reranker
    from mme5.types import Item

    rows = [{"text": "a note about bikes"}, {"text": "pasta", "instruction": "ignored by the reranker"}]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "ranked.jsonl"
    args = ["rerank", "--model", str(tiny_reranker), "--query", "bicycles", "--input", str(tmp_path / "docs.jsonl")]
    assert main([*args, "--doc", "a red bike", "--output", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    expected = Reranker.from_pretrained(tiny_reranker).score(
        "bicycles", [Item(**rows[0]), Item(**rows[1]), Item(text="a red bike")]
    )
    assert [x["relevance_score"] for x in lines] == pytest.approx(sorted(expected, reverse=True), abs=1e-6)
    assert {x["index"]: x["document"] for x in lines} == {0: rows[0], 1: rows[1], 2: {"text": "a red bike"}}
    # a padded-position budget below any pair: each pair runs alone, the scores stay
    assert main([*args, "--doc", "a red bike", "--max-batch-tokens", "8", "--output", str(tmp_path / "alone.jsonl")]) == 0
    alone = [json.loads(line) for line in (tmp_path / "alone.jsonl").read_text().splitlines()]
    assert [x["relevance_score"] for x in alone] == pytest.approx([x["relevance_score"] for x in lines], abs=1e-6)


def test_rerank_cli_user_errors(tiny_reranker, tiny_dirs, capsys) -> None:
    assert main(["rerank", "--model", str(tiny_reranker), "--query", "q"]) == 2
    assert "no documents" in capsys.readouterr().err
    assert main(["rerank", "--model", str(tiny_dirs("qwen2_vl")), "--query", "q", "--doc", "d"]) == 2
    assert "no single token for yes / no" in capsys.readouterr().err
