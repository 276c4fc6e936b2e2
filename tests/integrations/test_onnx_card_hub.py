"""`--to onnx` (text path, onnxruntime within 1e-4 of torch), the model card built from an
`mme5 eval` run, and a dry `--push-to-hub` through the CLI with a mocked HfApi."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from mme5 import prompts
from mme5.types import InputError, Item

LONG = "the cat sat on the mat near a window " * 60  # > max_length: both sides truncate


@pytest.mark.parametrize("backbone", ["qwen2_vl", "mllama"])
def test_onnx_text_path_matches_torch(backbone, exported, reference):
    from mme5.integrations.onnx import OnnxTextEncoder

    encoder = OnnxTextEncoder(exported(backbone, "onnx").out_dir, threads=1)
    items = [Item(text="a black cat", instruction=prompts.FIND_IMAGE_FOR_CAPTION),
             Item(text="un chien qui court"), Item(text="犬と猫"), Item(text=LONG), Item(text="<|image_1|>\nhub text")]
    got = encoder.encode(items, batch_size=2)  # other batches than mme5's: padding must not matter
    np.testing.assert_allclose(got, reference(backbone).encode(items), atol=1e-4)
    with pytest.raises(InputError, match="text only"):
        encoder.encode([Item(text="x", image="cat.png")])


def test_model_card_from_eval_run(xtd_run):
    from mme5.integrations.card import build_card
    from mme5.integrations.profile import read_profile

    model, run = xtd_run
    card = build_card(read_profile(model), target="hf", results=run, model_name="me/tiny")
    meta = yaml.safe_load(card.split("---")[1])
    results = {r["dataset"]["name"]: r for r in meta["model-index"][0]["results"]}
    for lang in ("it", "ja"):
        ours = json.loads((run / "tasks" / f"xtd-{lang}.json").read_text())["protocols"]
        values = {m["name"]: m["value"] for m in results[f"xtd-{lang}"]["metrics"]}
        assert values["Recall@10 (row protocol, original ties)"] == ours["row"]["original"]["recall@10"]
        assert values["Recall@10 (row protocol, tie-aware)"] == ours["row"]["tie_aware"]["recall@10"]
    assert len(meta["language"]) == 94 and {"it", "ja", "sw", "multilingual"} <= set(meta["language"])
    assert "## XTD text -> image" in card and "tie-aware" in card and "row protocol" in card


def test_cli_export_push_to_hub_dry(adapted, xtd_run, tmp_path, monkeypatch):
    import huggingface_hub

    from mme5.cli.main import main

    calls: list[tuple[str, dict]] = []

    class FakeHfApi:
        def __init__(self, token=None):
            calls.append(("init", {"token": token}))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, *, folder_path, repo_id, **kwargs):
            from pathlib import Path

            files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file())
            calls.append(("upload_folder", {"repo_id": repo_id, "files": files,
                                            "card": (Path(folder_path) / "README.md").read_text()}))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    base, adapter = adapted("qwen2_vl")
    out = tmp_path / "st"
    assert main(["export", "--model", str(base), "--adapter", str(adapter), "--to", "sentence-transformers",
                 str(out), "--results", str(xtd_run[1]), "--push-to-hub", "me/tiny-mme5", "--token", "hf_x"]) == 0
    kinds = [c[0] for c in calls]
    assert kinds == ["init", "create_repo", "upload_folder"] and calls[0][1]["token"] == "hf_x"
    upload = calls[2][1]
    assert upload["repo_id"] == "me/tiny-mme5"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", "mme5_embedding.json",
                 "modules.json", "1_Pooling/config.json", "config_sentence_transformers.json", "README.md"):
        assert name in upload["files"], name
    assert "model-index" in upload["card"] and "library_name: sentence-transformers" in upload["card"]
    assert "# me/tiny-mme5" in upload["card"] and "name: me/tiny-mme5" in upload["card"]
    assert main(["export", "--model", str(base), "--to", "hf", str(tmp_path / "x"), "--push-to-hub", "not a repo"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["qwen2_5_vl", "qwen3_vl"])
def test_other_qwen_families_export(backbone, tiny_dirs, tmp_path, images):
    """sentence-transformers and ONNX exports of the other Qwen-VL families give mme5's vectors."""
    from mme5 import Embedder
    from mme5.integrations.export import export
    from mme5.integrations.onnx import OnnxTextEncoder
    from mme5.integrations.sentence_transformers import load_sentence_transformer

    base = tiny_dirs(backbone)
    items = [Item(text="a cat", instruction=prompts.FIND_IMAGE_FOR_CAPTION), Item(image=images[0]),
             Item(text="a dog", image=images[1])]
    want = Embedder.from_pretrained(base, device="cpu").encode(items)
    st = load_sentence_transformer(export(base, tmp_path / "st", "sentence-transformers").out_dir, device="cpu")
    np.testing.assert_allclose(st.encode(["a cat"], prompt_name="t2i_query"), want[:1], atol=1e-5)
    np.testing.assert_allclose(st.encode([images[0], {"text": "a dog", "image": images[1]}]), want[1:], atol=1e-5)
    onnx = OnnxTextEncoder(export(base, tmp_path / "onnx", "onnx").out_dir)
    np.testing.assert_allclose(onnx.encode(items[:1]), want[:1], atol=1e-4)
