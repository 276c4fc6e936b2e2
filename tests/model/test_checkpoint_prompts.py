"""A checkpoint records its model's default prompts by role (`mme5_prompts.json`, the keys of
sentence-transformers' `config_sentence_transformers.json`): init-tiny writes them, exports carry
them on, and `model_prompts` reads a folder's (or falls back to the profile's)."""
from __future__ import annotations

import json
import shutil

from mme5 import prompts as P
from mme5.prompts import PROMPTS_FILE, default_prompts, model_prompts, write_prompts


def test_init_tiny_records_the_default_prompts(tmp_path, capsys):
    from mme5.cli.main import main

    out = tmp_path / "tiny"
    assert main(["init-tiny", str(out)]) == 0
    body = json.loads((out / PROMPTS_FILE).read_text())
    assert set(body) >= {"prompts", "default_prompt_name"} and body["default_prompt_name"] is None
    assert body["prompts"] == default_prompts() == model_prompts(out)
    assert body["prompts"]["query"] == P.FIND_IMAGE_FOR_CAPTION and body["prompts"]["document"] == P.REPRESENT_IMAGE
    assert body["prompts"]["text_target"] == ""  # text candidates carry no instruction
    assert body["prompts"]["visdoc_page"] == P.V2_VISDOC_PAGE and body["prompts"]["video_target"] == P.V2_VIDEO_TARGET


def test_a_folders_prompts_win_over_the_defaults(tmp_path):
    model, adapter, st = tmp_path / "model", tmp_path / "adapter", tmp_path / "st"
    for folder in (model, adapter, st):
        folder.mkdir()
    assert model_prompts(model) == default_prompts()  # nothing recorded yet
    assert model_prompts("some-org/some-model") == default_prompts()  # a hub id: the defaults
    write_prompts(model, {"query": "Q:", "document": ""})
    assert model_prompts(model) == {"query": "Q:", "document": ""}
    write_prompts(adapter, {"query": "trained Q:"})
    assert model_prompts(model, adapter=adapter) == {"query": "trained Q:"}
    (st / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "st Q:"}}))
    assert model_prompts(st) == {"query": "st Q:"}
    assert default_prompts("no-such-profile") == default_prompts("mme5") == P.MME5_PROMPTS


def test_export_carries_the_models_prompts(tiny_dirs, tmp_path):
    from mme5.integrations.hf import export_hf
    from mme5.integrations.profile import read_profile

    source = tmp_path / "model"
    shutil.copytree(tiny_dirs("mllama"), source)
    mine = {"query": "Look for:", "document": "", "visdoc_page": "A page."}
    write_prompts(source, mine)
    out, _ = export_hf(source, tmp_path / "out")
    assert model_prompts(out) == mine and read_profile(out).prompts == mine
