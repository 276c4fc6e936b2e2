"""MMEB-V2 under Qwen3-VL-Embedding's protocol: a miniature `ziyjiang/MMEB_Test_Instruct` folder (plus a
video and a visdoc task) runs through `mme5 eval mmeb-v2` with a checkpoint recognised as
Qwen3-VL-Embedding, and every query / candidate reaches the model in the protocol's form: the query
instruction in the system turn (placeholder removed), candidates under the default instruction,
captions where the row has them. The expected texts are written here from the spec (§2, §4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mme5.cli.main import main

from .mini_v2 import LABELS, _jsonl, frames, write_beir_jsonl, write_video_cls

DEFAULT = "Represent the user's input."
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"


def _chat(system: str, user: str) -> str:
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def _write_instruct(root: Path) -> dict[str, list[dict]]:
    """Five image tasks in the MMEB_Test_Instruct columns, one per parser of Qwen's code."""
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    for i in range(8):
        frames(20 + i, n=1, size=40 + 4 * i)[0].save(root / "imgs" / f"{i}.png")
    tasks = {
        "ImageNet-1K": [  # classification: image query, label candidates
            {"qry_inst": "<|image_1|>\nRepresent the given image for classification", "qry_text": "",
             "qry_img_path": f"imgs/{i}.png", "tgt_inst": "Represent the class label: ",
             "tgt_text": [LABELS[i], *[lab for lab in LABELS if lab != LABELS[i]]], "tgt_img_path": [""] * 4}
            for i in range(3)
        ],
        "MSCOCO_t2i": [  # text -> image, no captions
            {"qry_inst": "Find me an everyday image that matches the given caption:", "qry_text": f"A  photo {i}\n",
             "qry_img_path": "", "tgt_inst": "<|image_1|>\nRepresent the given image.",
             "tgt_text": ["", ""], "tgt_img_path": [f"imgs/{i}.png", f"imgs/{i + 3}.png"]}
            for i in range(2)
        ],
        "WebQA": [  # text -> image + caption (stripped)
            {"qry_inst": "Find a Wikipedia image that answers this question:", "qry_text": f"Where is site {i}?",
             "qry_img_path": "", "tgt_inst": "<|image_1|>\nRepresent the given Wikipedia image with related text information:",
             "tgt_text": [f" caption {i} ", f"other {i}"], "tgt_img_path": [f"imgs/{i}.png", f"imgs/{i + 4}.png"]}
            for i in range(2)
        ],
        "RefCOCO-Matching": [  # image + text -> image + caption (as stored)
            {"qry_inst": "<|image_1|>\nSelect the portion of the image that follows the language expressions:",
             "qry_text": f"the left {i}", "qry_img_path": f"imgs/{i}.png",
             "tgt_inst": "<|image_1|>\nSelect the portion of the image that follows the language expressions:",
             "tgt_text": [f"\"left {i}\" ", f"right {i}"], "tgt_img_path": [f"imgs/{i + 1}.png", f"imgs/{i + 2}.png"]}
            for i in range(2)
        ],
        "NIGHTS": [  # image -> image, captions blank
            {"qry_inst": "<|image_1|>\nFind a day-to-day image that looks similar to the provided image.",
             "qry_text": "", "qry_img_path": f"imgs/{i}.png", "tgt_inst": "<|image_1|>\nRepresent the given image.",
             "tgt_text": ["", ""], "tgt_img_path": [f"imgs/{i + 5}.png", f"imgs/{i + 6}.png"]}
            for i in range(2)
        ],
    }
    for name, rows in tasks.items():
        _jsonl(root / f"{name}.jsonl", rows)
    return tasks


def _expected(tasks: dict[str, list[dict]], root: Path) -> set[str]:
    want = set()
    for name, rows in tasks.items():
        for r in rows:
            inst = r["qry_inst"].replace("<|image_1|>", "").strip()
            system = inst if inst[-1] in ".:?" else inst + "."
            want.add(_chat(system, (IMAGE if r["qry_img_path"] else "") + r["qry_text"]))
            for text, path in zip(r["tgt_text"], r["tgt_img_path"]):
                if not path:
                    want.add(_chat(DEFAULT, text))
                elif name == "WebQA":
                    want.add(_chat(DEFAULT, IMAGE + text.strip()))
                else:
                    want.add(_chat(DEFAULT, IMAGE + (text if r["tgt_text"][0].strip() else "")))
    want |= {_chat("Recognize the category of the video content.", VIDEO)}  # K700 queries (video only)
    want |= {_chat(DEFAULT, label) for label in LABELS}  # K700 labels, no instruction
    for q in (json.loads(line) for line in (root / "ViDoRe_arxivqa" / "queries.jsonl").read_text().splitlines()):
        if q["query-id"] != "q-none":  # unjudged: dropped by the loader
            want.add(_chat("Find a document image that matches the given query.", q["query"]))
    want.add(_chat(DEFAULT, IMAGE))  # pages: bare images
    return want


def test_mmeb_v2_reaches_the_model_in_qwens_form(tiny_dirs, tmp_path, monkeypatch, capsys) -> None:
    from mme5.model import qwen3_vl_embedding as q

    data = tmp_path / "MMEB_Test_Instruct"
    tasks = _write_instruct(data)
    write_video_cls(data)
    write_beir_jsonl(data)
    model = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    seen: set[str] = set()
    real = q.chat_text
    monkeypatch.setattr(q, "chat_text", lambda processor, item: seen.add(t := real(processor, item)) or t)

    run = tmp_path / "run"
    names = [*tasks, "K700", "ViDoRe_arxivqa"]
    assert main(["eval", "mmeb-v2", *names, "--model", str(model), "--data-dir", str(data), "--output", str(run),
                 "--no-chart", "--no-cache", "--compare-published"]) == 0
    out = capsys.readouterr().out
    assert seen == _expected(tasks, data)
    assert "published: Qwen3-VL-Embedding-2B" in out and "published: Qwen3-VL-Embedding-8B" in out
    assert json.loads((run / "run.json").read_text())["profile"] == q.NAME
    for name in names:
        group = "video" if name == "K700" else "visdoc" if name.startswith("ViDoRe") else "image"
        score = json.loads((run / group / f"{name}_score.json").read_text())
        assert score["profile"] == q.NAME
        preds = [json.loads(line) for line in (run / group / f"{name}_pred.jsonl").read_text().splitlines()]
        assert len(preds) == score["num_pred"] and all(p["prediction"] for p in preds)
    imagenet = [json.loads(line) for line in (run / "image" / "ImageNet-1K_pred.jsonl").read_text().splitlines()]
    assert all(sorted(p["prediction"]) == sorted(LABELS) for p in imagenet)  # each row's whole candidate list


def test_rows_without_the_instruct_columns_are_refused(tiny_dirs, tmp_path, capsys) -> None:
    data = tmp_path / "d"
    _jsonl(data / "ImageNet-1K.jsonl", [{"qry_text": "x", "qry_img_path": "", "tgt_text": ["a"], "tgt_img_path": [""]}])
    model = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    assert main(["eval", "mmeb-v2", "ImageNet-1K", "--model", str(model), "--data-dir", str(data),
                 "--output", str(tmp_path / "run"), "--no-chart", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "ImageNet-1K.jsonl:1: missing column(s) ['qry_inst', 'tgt_inst']" in err and "MMEB_Test_Instruct" in err


def test_own_mmeb_format_tasks_keep_their_rows(tiny_dirs, tmp_path) -> None:
    """`mme5 eval tasks` on your own MMEB-eval-format subset (no instruction columns) still runs
    under the profile: the rows are read as they are."""
    data = tmp_path / "mine"
    rows = [{"qry_text": f"find item {i}", "qry_img_path": "", "tgt_text": [f"item {i}", "other"], "tgt_img_path": ["", ""]}
            for i in range(2)]
    _jsonl(data / "MyTask.jsonl", rows)
    model = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    run = tmp_path / "run"
    assert main(["eval", "tasks", "--model", str(model), "--data-dir", str(data), "--output", str(run),
                 "--no-chart", "--no-cache"]) == 0
    assert json.loads((run / "tasks" / "MyTask.json").read_text())["model"]["profile"] == "qwen3-vl-embedding"
