"""MMEB-V2 video loaders: each family's query, candidates and labels as spec §3 assembles them
(checked through the vlm2vec-v2 text assembly against the spec's literal strings)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mme5 import prompts as P
from mme5.evaluation.loaders import DataSource, load_task
from mme5.evaluation.tasks import get_task
from mme5.model.profiles import vlm2vec_v2_text
from mme5.types import InputError


def _rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _frames(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "frame_0001.jpg").write_bytes(b"x")


def _load(root: Path, task: str, **kw):
    data = load_task(get_task(task), DataSource(data_dir=str(root), **kw))
    texts = [vlm2vec_v2_text(data.items[i]) for i in data.query_ids]
    pool = [(k, vlm2vec_v2_text(data.items[i])) for k, i in zip(data.pool_keys, data.pool_items)]
    return data, texts, pool


def test_video_qa_variants(tmp_path):
    qa = tmp_path / "video_qa"
    opts = ["A. red", "B. blue", "C. green", "D. black"]
    _rows(tmp_path / "Video-MME.jsonl", [{"videoID": "v1", "question": "Which colour?", "options": opts, "answer": "B"}])
    _frames(qa / "Video-MME" / "v1")
    data, texts, pool = _load(tmp_path, "Video-MME")
    assert texts == [f"<|video_pad|> {P.V2_VIDEO_QA} Which colour?\n" + "\n".join(opts)]
    assert texts[0].count("Question:  Which") == 1  # the published double space
    assert pool == [(o, o[3:]) for o in opts] and [pool[j][0] for j in data.labels[0]] == ["B. blue"]
    assert data.items[data.query_ids[0]].video == qa / "Video-MME" / "v1" and data.protocol == "local"

    _rows(tmp_path / "NExTQA.jsonl", [{"video": 7, "question": "why?", **{f"a{j}": f"ans{j}" for j in range(5)}, "answer": 3}])
    _frames(qa / "NExTQA" / "7")
    _, texts, pool = _load(tmp_path, "NExTQA")
    assert texts[0].endswith("why?\nOptions:\n(A) ans0\n(B) ans1\n(C) ans2\n(D) ans3\n(E) ans4")
    assert [t for _, t in pool] == [f"ans{j}" for j in range(5)]

    _rows(tmp_path / "EgoSchema.jsonl", [{"video_idx": "e1", "question": "What next?", "option": ["A. sit", "B. run"], "answer": "1"}])
    _frames(qa / "EgoSchema" / "e1")
    data, texts, pool = _load(tmp_path, "EgoSchema")
    assert texts[0].endswith("What next?A. sit B. run") and [t for _, t in pool] == ["sit", "run"]
    assert pool[data.labels[0][0]][0] == "B. run"

    _rows(tmp_path / "MVBench" / "action_count.jsonl", [{"video": "m.mp4", "question": "How many?",
                                                        "candidates": ["2", "3"], "answer": "3"}])
    _frames(qa / "MVBench" / "action_count" / "m.mp4")
    data, texts, pool = _load(tmp_path, "MVBench")
    assert texts[0].endswith("How many?\nOptions:\n(A) 2\n(B) 3") and [k for k, _ in pool] == ["(A) 2", "(B) 3"]
    assert pool[data.labels[0][0]][0] == "(B) 3"

    _rows(tmp_path / "ActivityNetQA.jsonl", [{"video_name": "abc", "question": "is it raining", "answer": "no"}])
    _frames(qa / "ActivityNetQA" / "v_abc")
    data, texts, pool = _load(tmp_path, "ActivityNetQA")
    assert texts[0].endswith("Question:  is it raining? (A) yes; (B) no.") and pool[data.labels[0][0]][0] == "no"


def test_video_retrieval_and_classification(tmp_path):
    _rows(tmp_path / "MSR-VTT.jsonl", [{"video_id": f"video{i}", "video": f"video{i}.mp4", "caption": f"a dog {i}"}
                                       for i in range(3)])
    for i in range(3):
        _frames(tmp_path / "video_ret" / "MSR-VTT" / f"video{i}")
    data, texts, pool = _load(tmp_path, "MSR-VTT")
    assert texts[1] == f"{P.V2_VIDEO_RET['MSR-VTT']} a dog 1" and data.protocol == "global"
    assert pool[2] == ("video2", f"<|video_pad|> {P.V2_VIDEO_TARGET}") and [lab.tolist() for lab in data.labels] == [[0], [1], [2]]

    _rows(tmp_path / "SmthSmthV2.jsonl", [{"video_id": 5, "pos_text": "pushing", "neg_text": ["pulling", "pushing", "lifting"]}])
    _frames(tmp_path / "video_cls" / "SSv2" / "5")
    data, texts, pool = _load(tmp_path, "SmthSmthV2")
    assert texts == [f"<|video_pad|> {P.V2_VIDEO_CLS['SmthSmthV2']}"] and [k for k, _ in pool] == ["pushing", "pulling", "lifting"]

    _rows(tmp_path / "Breakfast.jsonl", [{"video_id": "b1", "pos_text": "tea"}])
    _frames(tmp_path / "video_cls" / "Breakfast" / "b1")
    data, texts, pool = _load(tmp_path, "Breakfast")
    assert len(pool) == 10 and texts[0].endswith("cooking in the video. ")  # the full label list; trailing space


def test_moment_retrieval(tmp_path):
    root = tmp_path / "video_mret" / "QVHighlight" / "clipA"
    for name in ("query", "positive_0", "negative_1", "negative_2"):
        _frames(root / name)
    _rows(tmp_path / "QVHighlight.jsonl", [{"query": "a man jumps", "video_path": "videos/clipA.mp4"}])
    data, texts, pool = _load(tmp_path, "QVHighlight")
    assert texts == [f"<|video_pad|> {P.V2_MRET_QUERY} a man jumps"]
    assert [pool[j][0] for j in data.labels[0]] == ["clipA/positive_0"] and len(pool) == 3

    ms = tmp_path / "video_mret" / "MomentSeeker"
    for d in ("video_frames/a_b", "clips/p1", "clips/n1"):
        _frames(ms / d)
    (ms / "query_q.jpg").write_bytes(b"x")
    cands = {"positive_frames": [{"output_path": "clips/p1"}], "negative_frames": [{"output_path": "clips/n1"}]}
    _rows(tmp_path / "MomentSeeker.jsonl", [{"query": "q1", "input_frames": "a/b.mp4", **cands},
                                            {"query": "q2", "input_frames": "q.jpg", **cands},
                                            {"query": "q3", "input_frames": "", **cands}])
    data, texts, pool = _load(tmp_path, "MomentSeeker")
    assert texts == [f"<|video_pad|> {P.V2_MOMENTSEEKER_VIDEO} q1", f"<|image_pad|> {P.V2_MOMENTSEEKER_IMAGE} q2",
                     f"{P.V2_MOMENTSEEKER_TEXT} q3"]
    assert pool[0] == ("clips/p1", f"<|video_pad|> {P.V2_VIDEO_CLIP_TARGET}")


def test_bad_rows_and_missing_frames(tmp_path):
    _rows(tmp_path / "MSVD.jsonl", [{"video_id": "x", "captions": ["oops"]}])
    with pytest.raises(InputError, match=r"MSVD.jsonl:1: missing column 'caption'"):
        _load(tmp_path, "MSVD")
    _rows(tmp_path / "HMDB51.jsonl", [{"video_id": "gone", "pos_text": "run"}, {"video_id": "here", "pos_text": "walk"}])
    _frames(tmp_path / "video_cls" / "HMDB51" / "here")
    with pytest.raises(InputError, match="row 0: video .*gone not found"):
        _load(tmp_path, "HMDB51")
    data, _, _ = _load(tmp_path, "HMDB51", skip_missing=True)
    assert data.rows == 1 and len(data.skipped) == 1


def test_beir_collections_are_recognised(tmp_path):
    from mme5.evaluation.loaders import local_collections, local_subsets
    from mme5.evaluation.tasks import custom_task
    from mme5.types import MissingFileError

    mine = tmp_path / "my_reports"
    (mine / "pages").mkdir(parents=True)
    (mine / "pages" / "a.png").write_bytes(b"x")
    _rows(mine / "queries.jsonl", [{"query-id": 1, "query": "revenue?"}, {"query-id": 2, "query": "no label"}])
    _rows(mine / "corpus.jsonl", [{"corpus-id": "a", "image": "pages/a.png"}])
    _rows(mine / "qrels.jsonl", [{"query-id": 1, "corpus-id": "a", "score": 1}, {"query-id": 1, "corpus-id": "a", "score": 2}])
    _rows(tmp_path / "ImageNet-1K.jsonl", [])
    assert local_collections(tmp_path) == ["my_reports"] and local_subsets(tmp_path) == ["ImageNet-1K"]
    spec = custom_task("my_reports", beir=True)
    assert spec.protocol == "global" and spec.metric == "ndcg_linear@5"
    data = load_task(spec, DataSource(data_dir=str(tmp_path)))
    assert data.rows == 1 and data.grades[0].tolist() == [2.0] and data.notes  # max grade; unjudged query noted
    assert data.items[data.pool_items[0]].image == str(mine / "pages" / "a.png")
    (mine / "qrels.jsonl").unlink()
    with pytest.raises(MissingFileError, match="no qrels"):
        load_task(spec, DataSource(data_dir=str(tmp_path)))


def test_v2_image_rows_join_the_instruction_columns(tmp_path):
    """ziyjiang/MMEB_Test_Instruct keeps qry_inst / tgt_inst apart: joined back, the rows read as
    MMEB-eval's; raw label candidates stay as they are."""
    from mme5.evaluation.loaders import parse_row

    row = {"qry_inst": "<|image_1|>\nRepresent the given image for classification", "qry_text": "",
           "qry_img_path": "", "tgt_inst": "", "tgt_text": ["cat", "dog"], "tgt_img_path": ["", ""]}
    query, cands = parse_row("r", row, None)
    assert query.text == row["qry_inst"] and [c.text for c in cands] == ["cat", "dog"]
    t2i = {"qry_inst": "Find me an everyday image that matches the given caption:", "qry_text": "a cat",
           "qry_img_path": "", "tgt_inst": "<|image_1|>\nRepresent the given image.", "tgt_text": [""],
           "tgt_img_path": [""]}
    query, cands = parse_row("r", t2i, None)
    assert query.text == "Find me an everyday image that matches the given caption: a cat"
    assert cands[0].text == "<|image_1|>\nRepresent the given image."
    with pytest.raises(InputError, match="qry_inst must be a string"):
        parse_row("r", {**t2i, "qry_inst": 3}, None)


def test_small_batch_tasks():
    assert get_task("Video-MME").max_batch_size == 4 and get_task("MSR-VTT").max_batch_size is None
