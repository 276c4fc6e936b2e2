"""`mme5 mine`: negatives are the embedder's best-ranked other positives (computed here
independently), the rank and reranker filters drop what they say, and the rows read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mme5.cli.main import main
from mme5.types import Item

TOPICS = ["apple pie", "river boat", "red candle", "tiger cub", "old violin", "blue planet", "hot pepper"]


def _rows() -> list[dict]:
    rows = [
        {"qry": f"find {t}", "qry_image_path": "", "pos_text": f"a photo of {t}", "pos_image_path": ""} for t in TOPICS
    ]
    rows.append(
        {"qry": "another apple", "qry_image_path": "", "pos_text": "a photo of apple pie", "pos_image_path": ""}
    )
    return rows


def _expected(embedder, rows, skip: int, keep) -> list[list[str]]:
    q = embedder.encode([Item(text=r["qry"]) for r in rows])
    distinct = list(dict.fromkeys(r["pos_text"] for r in rows))
    t = embedder.encode([Item(text=p) for p in distinct])
    out = []
    for i, r in enumerate(rows):
        ranked = [distinct[j] for j in np.argsort(-(t @ q[i]), kind="stable") if distinct[j] != r["pos_text"]]
        out.append([p for p in ranked[skip : skip + 10] if keep(r, p)][:2])
    return out


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mine") / "rr"
    assert main(["init-tiny", "--reranker", str(out)]) == 0
    return out


def test_mined_negatives_are_the_best_ranked_other_positives(tmp_path, tiny_dirs, tiny_embedder, tiny_reranker) -> None:
    from mme5 import Reranker
    from mme5.data.schema import row_to_example

    rows = _rows()
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = str(tiny_dirs("mllama"))
    base = ["mine", "--model", model, "--input", str(tmp_path / "rows.jsonl"), "--negatives", "2", "--top-k", "10"]

    def run(*extra: str) -> list[dict]:
        assert main([*base, "--output", str(tmp_path / "out.jsonl"), *extra]) == 0
        return [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]

    embedder = tiny_embedder("mllama")
    plain = run()
    assert [json.loads(r["neg_text"]) for r in plain] == _expected(embedder, rows, 0, lambda r, p: True)
    assert "a photo of apple pie" not in json.loads(plain[-1]["neg_text"])  # equal positive: never a negative
    skipped = run("--skip-top", "1")
    assert [json.loads(r["neg_text"]) for r in skipped] == _expected(embedder, rows, 1, lambda r, p: True)

    reranker = Reranker.from_pretrained(tiny_reranker)
    all_scores: dict[tuple[str, str], float] = {}
    for r in rows:
        others = [f"a photo of {t}" for t in TOPICS]
        all_scores.update({(r["qry"], p): s for p, s in zip(others, reranker.score(r["qry"], others))})
    threshold = float(np.median(list(all_scores.values())))
    filtered = run("--reranker", str(tiny_reranker), "--max-reranker-score", str(threshold))
    expected = _expected(embedder, rows, 0, lambda r, p: all_scores[(r["qry"], p)] <= threshold)
    assert [json.loads(r["neg_text"]) for r in filtered] == expected
    assert expected != [json.loads(r["neg_text"]) for r in plain]  # the filter dropped some

    example = row_to_example(plain[0], where="x", source="s", image_root=None, negative_ratio=2)
    assert [n.text for n in example.hard_negatives] == json.loads(plain[0]["neg_text"])

    taught = run("--reranker", str(tiny_reranker), "--teacher-scores")  # logits of [positive, *negatives]
    for r, out in zip(rows, taught):
        docs = [Item(text=t) for t in [r["pos_text"], *json.loads(out["neg_text"])]]
        raw = reranker.score_pairs([(Item(text=r["qry"]), d) for d in docs], raw=True)
        assert out["teacher_scores"] == pytest.approx(raw.tolist(), abs=1e-5)
    read = row_to_example(taught[0], where="x", source="s", image_root=None, negative_ratio=2)
    assert read.teacher_scores == pytest.approx(taught[0]["teacher_scores"])


def test_mine_refusals(tmp_path, capsys) -> None:
    (tmp_path / "rows.jsonl").write_text(json.dumps(_rows()[0]) + "\n")
    args = ["mine", "--input", str(tmp_path / "rows.jsonl"), "--output", str(tmp_path / "o.jsonl")]
    assert main(args) == 2 and "at least 2 rows" in capsys.readouterr().err
    assert main([*args, "--max-reranker-score", "1.5"]) == 2 and "probability" in capsys.readouterr().err
