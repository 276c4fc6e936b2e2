"""End to end through `mme5 eval` (in-process): a tiny model on a generated MMEB-format folder
and on the real emoji XTD layout; reports, chart, resume and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mme5.cli.main import main
from mme5.types import Item


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_eval_mmeb_on_a_local_folder_prints_the_meta_task_table(capsys, tiny_dirs, mmeb_dir, tmp_path):
    run_dir = tmp_path / "run"
    code, out, _ = run_cli(capsys, "eval", "mmeb", "--model", str(tiny_dirs("mllama")), "--data-dir", str(mmeb_dir),
                           "--output", str(run_dir), "--cache-dir", str(tmp_path / "cache"), "--compare-published")
    assert code == 0
    assert "| Model | Class. | VQA | Retr. | Ground. | IND | OOD | Overall |" in out
    assert "(1/10)" in out and "(3/36)" in out  # partial aggregates are labelled
    assert "published: mmE5 (synthetic + labeled) | 67.6 | 62.8 | 70.9 | 89.7 | 72.3 | 66.7 | 69.8" in out
    results = {p.stem: json.loads(p.read_text()) for p in (run_dir / "tasks").glob("*.json")}
    assert sorted(results) == ["ImageNet-1K", "MSCOCO_t2i", "RefCOCO"]
    summary = json.loads((run_dir / "summary.json").read_text())
    overall = summary["mmeb"]["original"]["overall"]
    assert overall["score"] == pytest.approx(np.mean([r["score"] for r in results.values()]))
    assert Image.open(run_dir / "chart.png").size[0] > 100
    assert json.loads((run_dir / "run.json").read_text())["tasks"] == ["ImageNet-1K", "MSCOCO_t2i", "RefCOCO"]

    code, again, _ = run_cli(capsys, "eval", "report", str(run_dir), "--compare-published")
    tables = out[out.index("# Evaluation"):].split("\nresults:")[0].strip()
    assert code == 0 and again[again.index("# Evaluation"):].strip() == tables  # recomputed from tasks/*.json


def test_eval_xtd_on_the_emoji_layout(capsys, tiny_dirs, tiny_embedder, emoji_dir, tmp_path):
    layout = emoji_dir / "xtd_format"
    run_dir = tmp_path / "xtd"
    code, out, _ = run_cli(capsys, "eval", "xtd", "it", "ko", "--model", str(tiny_dirs("mllama")), "--data-dir", str(layout),
                           "--output", str(run_dir), "--max-rows", "24", "--cache-dir", str(tmp_path / "cache"))
    assert code == 0
    assert "| Lang | Rows | R@10 | P@1 |" in out and "| it | 24 |" in out and "| ko | 24 |" in out
    result = json.loads((run_dir / "tasks" / "xtd-ko.json").read_text())
    assert result["metric"] == "recall@10" and result["language"] == "ko"
    assert set(result["protocols"]) == {"row", "gallery"}
    assert result["encoding"]["unique_items"] == 48

    # parity: Recall@10 of the gallery protocol from a plain, independent computation
    names = (layout / "XTD10" / "test_image_names.txt").read_text().split("\n")[:24]
    captions = (layout / "XTD10" / "test_1kcaptions_ko.txt").read_text(encoding="utf-8").split("\n")[:24]
    embedder = tiny_embedder("mllama")
    images = embedder.encode([Item(text="<|image_1|>\nRepresent the given image.\n", image=str(emoji_dir / "images" / n))
                              for n in names])
    queries = embedder.encode([Item(text=c, instruction="Find me an everyday image that matches the given caption:")
                               for c in captions])
    scores = queries @ images.T
    pessimistic = [(np.delete(s, i) >= s[i] - 1e-6).sum() + 1 for i, s in enumerate(scores)]
    assert result["protocols"]["gallery"]["tie_aware"]["recall@10"] == pytest.approx(100 * np.mean(np.array(pessimistic) <= 10))
    first = [(s > s[i]).sum() + (s[:i] == s[i]).sum() + 1 for i, s in enumerate(scores)]
    assert result["protocols"]["gallery"]["original"]["precision@1"] == pytest.approx(100 * np.mean(np.array(first) == 1))


def test_unknown_task_and_missing_data_are_clear_errors(capsys, mmeb_dir, tmp_path):
    code, _, err = run_cli(capsys, "eval", "mmeb", "ImagNet-1K", "--output", str(tmp_path))
    assert code == 2 and "did you mean 'ImageNet-1K'" in err
    code, _, err = run_cli(capsys, "eval", "mmeb", "mmeb-vqa", "--data-dir", str(mmeb_dir), "--output", str(tmp_path))
    assert code == 2 and "holds none of the requested tasks" in err
    code, _, err = run_cli(capsys, "eval", "mmeb", "xtd-it", "--output", str(tmp_path))
    assert code == 2 and "mme5 eval tasks" in err
    code, _, err = run_cli(capsys, "eval", "report", str(tmp_path / "nothing"))
    assert code == 2 and "no tasks/ folder" in err


def test_eval_list(capsys):
    code, out, _ = run_cli(capsys, "eval", "list")
    assert code == 0 and "| Visual7W-Pointing | mmeb | grounding | OOD |" in out and "xtd-11 (11)" in out
