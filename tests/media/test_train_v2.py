"""VLM2Vec-V2 training sources: pair builders, weighted same-source blocks, the recipe's offline
dry run, and a tiny CPU run on generated videos and rendered document pages that learns."""
from __future__ import annotations

import io
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mme5 import prompts
from mme5.data.sources_v2 import builder_for, weighted_block_order
from mme5.types import Item

ROOT = Path(__file__).resolve().parents[2]


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 40), color).save(buf, format="PNG")
    return buf.getvalue()


def test_document_builders_write_pages_once(tmp_path) -> None:
    row = {"query": "what is the total?", "image": {"bytes": _png((1, 2, 3)), "path": "p.png"}, "answer": "42", "prompt": "x"}
    ex = builder_for("colpali")(row, where="r0", source="colpali", image_root=tmp_path)
    assert ex.query.text == "what is the total?" and Path(ex.query.image).read_bytes() == row["image"]["bytes"]
    assert ex.positive == Item(text="42") and ex.source == "colpali"
    again = builder_for("colpali")(row, where="r1", source="colpali", image_root=tmp_path)
    assert again.query.image == ex.query.image and len(list(tmp_path.iterdir())) == 1
    vis = builder_for("visrag")({"query": "q", "image": _png((9, 9, 9)), "source": "ArxivQA"},
                                where="r2", source="visrag", image_root=tmp_path)
    assert vis.query == Item(instruction=prompts.V2_VISRAG_QUERY["ArxivQA"], text="q")
    assert vis.positive.instruction == prompts.V2_VISRAG_TARGET["ArxivQA"] and vis.positive.has_image
    unknown = builder_for("visrag")({"query": "q", "image": _png((8, 8, 8)), "source": "Other"},
                                    where="r3", source="visrag", image_root=tmp_path)
    assert unknown.query.instruction is None and unknown.positive.instruction is None
    from mme5.config import ConfigError
    from mme5.types import InputError

    with pytest.raises(ConfigError, match="set the source's image_root"):
        builder_for("colpali")(row, where="r4", source="c", image_root=None)
    with pytest.raises(InputError, match="r5: missing column 'answer'"):
        builder_for("colpali")({"query": "q", "image": _png((0, 0, 0))}, where="r5", source="c", image_root=tmp_path)
    with pytest.raises(ConfigError, match="unknown data source builder 'nope'"):
        builder_for("nope")


def test_llava_hound_builders(tmp_path) -> None:
    row = {"id": "v1", "video": "vid_001", "conversations": [{"from": "human", "value": "<video>\nDescribe the video."},
                                                               {"from": "gpt", "value": "A dog runs."}]}
    kw = {"where": "r0", "source": "s", "image_root": tmp_path}
    cap = builder_for("llava-hound-caption")(row, **kw)
    assert cap.query == Item(text="Describe the video.", video=str(tmp_path / "vid_001")) and cap.positive == Item(text="A dog runs.")
    ret = builder_for("llava-hound-video-retrieval")(row, **kw)
    assert ret.query == Item(instruction=prompts.V2_TRAIN_VIDEO_QUERY, text="A dog runs.")
    assert ret.positive == Item(instruction=prompts.V2_TRAIN_VIDEO_TARGET, video=str(tmp_path / "vid_001"))
    qa = builder_for("llava-hound-qa")(row, **kw)
    assert qa.query.instruction == prompts.V2_TRAIN_VIDEO_QA and qa.query.has_video and qa.positive.text == "A dog runs."


def test_weighted_blocks_follow_the_weights() -> None:
    sources = ["a"] * 300 + ["b"] * 200 + ["c"] * 100
    weights = {"a": 1.0, "b": 2.0, "c": 5.0}
    order = weighted_block_order(sources, weights, 4, random.Random(0))
    blocks = [order[s : s + 4] for s in range(0, len(order), 4)]
    assert all(len({sources[i] for i in b}) == 1 for b in blocks)  # same-source blocks
    assert {sources[i] for i in order} == {"a", "b", "c"} and set(range(600)) <= set(order)  # all exhausted
    drawn = Counter(sources[b[0]] for b in blocks)
    share = {k: drawn[k] / len(blocks) for k in weights}
    for k, w in weights.items():  # drawn with probability w / 8; "a" (1/8) needs ~75 blocks: many draws
        assert abs(share[k] - w / 8) < 0.05, share


def test_recipe_passes_offline_dry_run(capsys, monkeypatch) -> None:
    from mme5.cli.main import main

    monkeypatch.chdir(ROOT)
    assert main(["train", str(ROOT / "configs/train/vlm2vec-v2-qwen2vl-2b.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run OK" in out and out.count("TIGER-Lab/MMEB-train/") == 20 and "video_caption_300k.jsonl" in out
    from mme5.config import load_config
    from mme5.training.config import TrainConfig

    cfg = load_config(TrainConfig, ROOT / "configs/train/vlm2vec-v2-qwen2vl-2b.yaml", [])
    weights = {"image": 0.0, "visdoc": 0.0, "video": 0.0}
    for s in cfg.data.sources:
        kind = "video" if (s.builder or "").startswith("llava") else "visdoc" if s.builder else "image"
        weights[kind] += s.weight
    assert weights == {"image": 15.0, "visdoc": 22.0, "video": 15.0}  # spec §7: total 52
    assert (cfg.learning_rate, cfg.max_steps, cfg.warmup_steps, cfg.temperature, cfg.model.lora.r) == (5e-5, 5000, 100, 0.02, 16)


def _write_media(root: Path) -> tuple[Path, Path]:
    """8 generated videos (frame folders) with captions, and 8 rendered document pages with Q/A."""
    colors = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
              "purple": (150, 30, 160), "cyan": (30, 210, 210), "orange": (240, 140, 20), "gray": (128, 128, 128)}
    rows = []
    for k, (name, rgb) in enumerate(colors.items()):
        folder = root / "frames" / f"v{k}"
        folder.mkdir(parents=True)
        for t in range(4):
            arr = np.zeros((28, 28, 3), dtype=np.uint8)
            arr[:, : 7 * (t + 1)] = rgb  # the colour sweeps right frame by frame
            Image.fromarray(arr).save(folder / f"frame_{t + 1}.png")
        rows.append({"id": k, "video": f"v{k}", "conversations": [
            {"from": "human", "value": "<video>\nDescribe it."}, {"from": "gpt", "value": f"a {name} sweep"}]})
    videos = root / "captions.jsonl"
    videos.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pages = [Image.new("RGB", (56, 56), rgb) for rgb in colors.values()]
    pages[0].save(root / "doc.pdf", save_all=True, append_images=pages[1:], resolution=72)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mme5.media import pdf_pages

    docs = []
    for (name, _), page in zip(colors.items(), pdf_pages(root / "doc.pdf", dpi=36)):
        buf = io.BytesIO()
        page.save(buf, format="PNG")
        docs.append({"query": f"which colour is page {name}?", "image": {"bytes": buf.getvalue(), "path": "p.png"},
                     "answer": f"the {name} page", "prompt": ""})
    table = root / "colpali.parquet"
    pq.write_table(pa.Table.from_pylist(docs), table)
    return videos, table


@pytest.mark.slow
def test_tiny_v2_mixture_run_learns(tiny_dirs, tmp_path) -> None:
    from mme5.config import load_config
    from mme5.training.config import TrainConfig
    from mme5.training.run import train

    videos, table = _write_media(tmp_path)
    sources = (f'[{{path: "{videos}", name: vret, builder: llava-hound-video-retrieval, image_root: "{tmp_path / "frames"}", weight: 1}},'
               f' {{path: "{table}", name: docs, builder: colpali, image_root: "{tmp_path / "pages"}", weight: 1}}]')
    out = tmp_path / "run"
    cfg = load_config(TrainConfig, None, [
        f"output_dir={out}", f"model.name_or_path={tiny_dirs('qwen2_vl')}", "model.max_length=64",
        f"data.sources={sources}", "data.negative_ratio=0", "data.same_source_block=4", "data.source_weights=sample",
        "data.check_images=exists", "per_device_batch_size=4", "learning_rate=2e-3", "max_steps=30",
        "warmup_steps=0", "logging_steps=1", "save_steps=1000", "save_merged=true", "seed=0", "temperature=0.05"])
    train(cfg)
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 30
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.6 * first, (first, last)  # in-batch chance level is ln(4) = 1.39
    # and it retrieves better than before training: each caption's video, each page's answer
    from mme5 import Embedder
    from mme5.data.sources import read_examples

    pairs = (read_examples(videos, builder="llava-hound-video-retrieval", image_root=tmp_path / "frames")[0]
             + read_examples(table, builder="colpali", image_root=tmp_path / "pages")[0])

    def hits(emb) -> int:
        total = 0
        for group in (pairs[:8], pairs[8:]):
            q = emb.encode([e.query for e in group])
            t = emb.encode([e.positive for e in group])
            total += int(((q @ t.T).argmax(1) == np.arange(len(group))).sum())
        return total

    before, after = hits(Embedder.from_pretrained(tiny_dirs("qwen2_vl"), device="cpu")), hits(Embedder.from_pretrained(out, device="cpu"))
    assert after >= before + 3, (before, after)  # of 16 (chance: 2); 30 steps gave 2 -> 5 here


def test_training_schema_rows_take_videos(tmp_path) -> None:
    from mme5.data.schema import row_to_example

    row = {"qry": "find the clip", "qry_image_path": "", "pos_text": "", "pos_image_path": "", "pos_video_path": "clips/v1"}
    ex = row_to_example(row, where="t.jsonl:1", source="s", image_root=tmp_path, negative_ratio=0)
    assert ex.positive == Item(text="", video=str(tmp_path / "clips/v1")) and not ex.query.has_video
    row = {"qry": "", "qry_image_path": "", "qry_video_path": "/abs/v.mp4", "pos_text": "a cat", "pos_image_path": ""}
    assert row_to_example(row, where="t.jsonl:2", source="s", image_root=tmp_path, negative_ratio=0).query.video == "/abs/v.mp4"
