"""The `vlm2vec-v2` formatting profile on a tiny Qwen2-VL: token ids are the spec's assembly
(§6: "<|image_pad|> " + prompt, no vision_start, no chat template), positions are 1-D on every
M-RoPE axis and really reach the model, and mme5's default stays as it was."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mme5 import prompts as P
from mme5.config import ConfigError
from mme5.model.profiles import set_profile, vlm2vec_v2_text
from mme5.types import Item


@pytest.fixture(scope="module")
def qwen(tiny_dirs):
    from mme5 import Embedder

    default = Embedder.from_pretrained(tiny_dirs("qwen2_vl"), device="cpu")
    profiled = set_profile(Embedder.from_pretrained(tiny_dirs("qwen2_vl"), device="cpu"), "vlm2vec-v2")
    return default, profiled


def _image() -> Image.Image:
    return Image.fromarray(np.random.default_rng(1).integers(0, 255, (56, 84, 3), dtype=np.uint8))


def test_text_assembly_follows_the_spec():
    assert vlm2vec_v2_text(Item(instruction=P.V2_VISDOC_QUERY, text="q?")) == P.V2_VISDOC_QUERY + " q?"
    assert vlm2vec_v2_text(Item(instruction=P.V2_VISDOC_PAGE, image="p.png")) == "<|image_pad|> " + P.V2_VISDOC_PAGE
    qa = vlm2vec_v2_text(Item(instruction=P.V2_VIDEO_QA, text="Why?", video=("a.png", "b.png")))
    assert qa.startswith("<|video_pad|> Given a video") and qa.endswith("Question:  Why?")  # VLM2Vec's double space
    assert vlm2vec_v2_text(Item(text="<|image_1|>\nWhat is it?", image="x.png")) == "<|image_pad|> What is it?"


def test_token_ids_and_positions(qwen):
    default, profiled = qwen
    item = Item(instruction=P.V2_VISDOC_PAGE, image=_image())
    inputs = profiled.prepare([item]).parts[0][1]
    tok = profiled.processor.tokenizer
    grid = profiled.processor.image_processor(images=[_image()], return_tensors="pt")["image_grid_thw"][0]
    n_visual = int(grid.prod()) // 4  # merged 2x2 patches
    expected = tok("<|image_pad|>" * n_visual + " " + P.V2_VISDOC_PAGE).input_ids
    assert inputs["input_ids"][0].tolist() == expected
    assert tok.convert_tokens_to_ids("<|vision_start|>") not in expected
    assert torch.equal(inputs["position_ids"][0], torch.arange(len(expected)))
    assert "mm_token_type_ids" not in inputs
    # the default keeps mme5's markup and gets 3-D positions from get_rope_index
    base = default.prepare([item]).parts[0][1]
    assert tok.convert_tokens_to_ids("<|vision_start|>") in base["input_ids"][0].tolist()
    model = default.model.model
    pos, _ = model.get_rope_index(base["input_ids"], base["mm_token_type_ids"], image_grid_thw=base["image_grid_thw"],
                                  attention_mask=base["attention_mask"])
    assert not torch.equal(pos[1], pos[2])  # height and width axes differ on the image tokens


def test_positions_reach_the_model(qwen):
    """The profile's vector equals a direct forward with hand-built 1-D positions on 3 axes, and
    differs from the same ids with M-RoPE positions."""
    _, profiled = qwen
    item = Item(instruction=P.V2_VISDOC_PAGE, image=_image())
    vec = profiled.encode([item])[0]
    inputs = profiled.prepare([item]).parts[0][1]
    ids = inputs["input_ids"]
    with torch.no_grad():
        hand = torch.arange(ids.shape[1]).view(1, 1, -1).expand(3, 1, -1)
        kw = {k: v for k, v in inputs.items() if k != "position_ids"}
        h = profiled.model.model(**kw, position_ids=hand).last_hidden_state[0, -1]
        mm = (ids == profiled.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).int()
        h3 = profiled.model.model(**kw, mm_token_type_ids=mm).last_hidden_state[0, -1]
    np.testing.assert_allclose(vec, torch.nn.functional.normalize(h, dim=0).numpy(), atol=1e-5)
    assert not np.allclose(vec, torch.nn.functional.normalize(h3, dim=0).numpy(), atol=1e-4)


def test_profile_names_and_fingerprint(qwen, tiny_embedder):
    default, profiled = qwen
    assert default.profile == "mme5" and profiled.fingerprint == f"{default.fingerprint}-vlm2vec-v2"
    with pytest.raises(ConfigError, match="unknown formatting profile"):
        set_profile(default, "vlm2vec-v3")
    with pytest.raises(ConfigError, match="defined for qwen2_vl"):
        set_profile(tiny_embedder("mllama"), "vlm2vec-v2")


def test_video_tokens(qwen):
    """8 frames -> grid_t 4; the single `<|video_pad|>` expands to 4*(H/28)*(W/28) tokens, 1-D positions."""
    _, profiled = qwen
    frames = [Image.fromarray(np.full((56, 56, 3), 20 * i, dtype=np.uint8)) for i in range(8)]
    inputs = profiled.prepare([Item(instruction=P.V2_VIDEO_CLS["K700"], video=frames)]).parts[0][1]
    assert inputs["video_grid_thw"][0].tolist()[0] == 4
    n_visual = int(inputs["video_grid_thw"][0].prod()) // 4
    tok = profiled.processor.tokenizer
    assert inputs["input_ids"][0].tolist() == tok("<|video_pad|>" * n_visual + " " + P.V2_VIDEO_CLS["K700"]).input_ids
    assert torch.equal(inputs["position_ids"][0], torch.arange(inputs["input_ids"].shape[1]))
