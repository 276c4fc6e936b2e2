"""A miniature MMEB-V2 folder through `mme5 eval mmeb-v2` on tiny Qwen2-VL (vlm2vec-v2 profile):
one image, one video and two visdoc tasks (BEIR JSON lines and the hub's parquet); hit@1 and
graded NDCG@5 checked against an independent computation (own items, full sort, hand formulas).
Mllama takes the video task through the middle-frame fallback, named in the results."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mme5 import prompts as P
from mme5.cli.main import main
from mme5.types import Item

from . import mini_v2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    emoji = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "emoji_cldr"
    return mini_v2.build(tmp_path_factory.mktemp("mmeb_v2"), emoji if emoji.is_dir() else None)


def _ndcg5(ranked: list, grades: dict) -> float:
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:5]))
    ideal = sorted(grades.values(), reverse=True)[:5]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def _rank(embedder, queries: list[Item], pool: list[Item]) -> list[list[int]]:
    q = embedder.encode(queries)
    c = embedder.encode(pool)
    return [np.argsort(-(c @ v), kind="stable").tolist() for v in q]


def _visdoc_expected(embedder, folder: Path, pages: list, queries: list[tuple[str, str]], qrels: dict) -> dict:
    pool = [Item(instruction=P.V2_VISDOC_PAGE, image=p) for p in pages]
    ranked = _rank(embedder, [Item(instruction=P.V2_VISDOC_QUERY, text=t) for _, t in queries], pool)
    return {"ndcg_linear@5": np.mean([_ndcg5(r, qrels[qid]) for r, (qid, _) in zip(ranked, queries)]),
            "hit@1": np.mean([r[0] in qrels[qid] for r, (qid, _) in zip(ranked, queries)]), "ranked": ranked}


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_mmeb_v2_families_on_tiny_qwen2vl(mini, tiny_dirs, tmp_path, capsys):
    from mme5 import Embedder
    from mme5.model.profiles import set_profile

    run = tmp_path / "run"
    code = main(["eval", "mmeb-v2", "ImageNet-1K", "K700", "ViDoRe_arxivqa", "ViDoSeek-doc", "--model",
                 str(tiny_dirs("qwen2_vl")), "--data-dir", str(mini), "--output", str(run), "--profile", "vlm2vec-v2",
                 "--no-chart", "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 0 and "(4/78)" in out
    emb = set_profile(Embedder.from_pretrained(tiny_dirs("qwen2_vl"), device="cpu"), "vlm2vec-v2")

    # visdoc, BEIR JSON lines: page ids 0..5, graded qrels (0-scored pairs and unjudged queries dropped)
    folder = mini / "ViDoRe_arxivqa"
    queries = [(r["query-id"], r["query"]) for r in _read(folder / "queries.jsonl") if r["query-id"] != "q-none"]
    qrels: dict = {}
    for r in _read(folder / "qrels.jsonl"):
        if r["score"] > 0:
            qrels.setdefault(r["query-id"], {})[r["corpus-id"]] = r["score"]
    want = _visdoc_expected(emb, folder, [str(folder / "pages" / f"p{i}.png") for i in range(6)], queries, qrels)
    got = json.loads((run / "visdoc" / "ViDoRe_arxivqa_score.json").read_text())
    assert got["ndcg_linear@5"] == pytest.approx(want["ndcg_linear@5"], abs=1e-6)
    assert got["hit@1"] == pytest.approx(want["hit@1"]) and got["num_data"] == 4 and got["profile"] == "vlm2vec-v2"
    assert list(got)[:3] == ["hit@1", "hit@5", "hit@10"]
    preds = _read(run / "visdoc" / "ViDoRe_arxivqa_pred.jsonl")
    assert len(preds) == 4 and preds[0]["rel_scores"] == [2.0, 1.0] and preds[0]["label"] == ["0", "4"]
    assert [p["prediction"] for p in preds] == [[str(d) for d in r] for r in want["ranked"]]

    # visdoc, hub parquet with page bytes and mixed grades
    import pyarrow.parquet as pq

    pq_dir = mini / "ViDoSeek-doc"
    pages = [r["image"]["bytes"] for r in pq.read_table(pq_dir / "corpus.parquet").to_pylist()]
    pq_queries = [(r["query-id"], r["query"]) for r in pq.read_table(pq_dir / "queries.parquet").to_pylist()]
    pq_qrels: dict = {}
    for r in pq.read_table(pq_dir / "qrels.parquet").to_pylist():
        pq_qrels.setdefault(r["query-id"], {})[int(r["corpus-id"][1:])] = r["score"]
    want = _visdoc_expected(emb, pq_dir, pages, pq_queries, pq_qrels)
    result = json.loads((run / "tasks" / "ViDoSeek-doc.json").read_text())
    assert result["score"] == pytest.approx(100 * want["ndcg_linear@5"], abs=1e-4)
    assert "score_published_pairing" in result and result["candidate_protocol"] == "global"

    # video classification over the full label list (labels.txt), one video only as a raw file
    rows = _read(mini / "K700.jsonl")
    labels = (mini / "K700" / "labels.txt").read_text().split("\n")[:-1]
    root = mini / "video_cls" / "K700"
    videos = [root / r["video_id"] if (root / r["video_id"]).is_dir() else root / f"{r['video_id']}.mkv" for r in rows]
    ranked = _rank(emb, [Item(instruction=P.V2_VIDEO_CLS["K700"], video=str(v)) for v in videos], [Item(text=lab) for lab in labels])
    hit1 = np.mean([labels[r[0]] == row["pos_text"] for r, row in zip(ranked, rows)])
    got = json.loads((run / "video" / "K700_score.json").read_text())
    assert got["hit@1"] == pytest.approx(hit1) and json.loads((run / "tasks" / "K700.json").read_text())["pool_size"] == 4
    preds = _read(run / "video" / "K700_pred.jsonl")
    assert [p["prediction"] for p in preds] == [[labels[j] for j in r] for r in ranked]  # each video its own ranking
    assert json.loads((run / "tasks" / "K700.json").read_text())["encoding"]["unique_items"] == 4 + 4

    # image task (MMEB rows): hit@1 over each row's own candidates
    img_rows = _read(mini / "ImageNet-1K.jsonl")
    q = emb.encode([Item(text=r["qry_text"], image=str(mini / r["qry_img_path"])) for r in img_rows])
    hits = [int(np.argmax(emb.encode([Item(text=t) for t in r["tgt_text"]]) @ v) == 0) for r, v in zip(img_rows, q)]
    assert json.loads((run / "image" / "ImageNet-1K_score.json").read_text())["hit@1"] == pytest.approx(np.mean(hits))

    board = tmp_path / "board.json"
    assert main(["eval", "report", str(run), "--no-chart", "--leaderboard-json", str(board)]) == 0
    lb = json.loads(board.read_text())
    assert lb["metadata"]["formatting_profile"] == "vlm2vec-v2" and lb["metadata"]["model_backbone"] == "qwen2_vl"
    assert lb["metrics"]["visdoc"]["ViDoSeek-page-fixed"] == "FILE_N/A"
    assert lb["metrics"]["video"]["K700"]["hit@1"] == pytest.approx(hit1)

    # an image-only MMEB-V2 run still reports the V2 aggregates (n/78), from the cache
    assert main(["eval", "mmeb-v2", "ImageNet-1K", "--model", str(tiny_dirs("qwen2_vl")), "--data-dir", str(mini),
                 "--output", str(tmp_path / "image_only"), "--profile", "vlm2vec-v2", "--no-chart",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "| this run (original ties) | " in capsys.readouterr().out.split("## MMEB-V2")[-1]
    summary = json.loads((tmp_path / "image_only" / "summary.json").read_text())
    assert summary["mmeb-v2"]["original"]["overall"]["n"] == 1


def test_video_task_on_mllama_uses_the_middle_frame(mini, tiny_dirs, tiny_embedder, tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "run"
    assert main(["eval", "mmeb-v2", "K700", "--model", str(tiny_dirs("mllama")), "--data-dir", str(mini),
                 "--output", str(run), "--no-chart", "--no-cache"]) == 0
    assert "middle sampled frame" in capsys.readouterr().out
    result = json.loads((run / "tasks" / "K700.json").read_text())
    assert result["model"]["video_mode"] == "middle-frame"
    emb = tiny_embedder("mllama")
    rows = _read(mini / "K700.jsonl")[:3]  # the frame folders: 10 frames, sampled [0 1 2 3 5 6 7 9], middle = 6th
    labels = (mini / "K700" / "labels.txt").read_text().split("\n")[:-1]
    middle = [Image.open(mini / "video_cls" / "K700" / r["video_id"] / "frame_0006.jpg") for r in rows]
    ranked = _rank(emb, [Item(instruction=P.V2_VIDEO_CLS["K700"], image=m) for m in middle], [Item(text=lab) for lab in labels])
    preds = _read(run / "video" / "K700_pred.jsonl")
    assert [p["prediction"][0] for p in preds[:3]] == [labels[r[0]] for r in ranked]
