"""Qwen3-VL videos without torchvision: clip-wide sizing, 0.5 normalisation, timestamped groups."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mme5.types import Item


def _frames(n: int, seed: int = 0, h: int = 40, w: int = 50) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.fixture(scope="module")
def processor(tiny_dirs):
    from mme5.model.backbones import get_backbone

    return get_backbone("qwen3_vl").processor_class().from_pretrained(str(tiny_dirs("qwen3_vl")))


def _formula_text(processor, n_frames: int, grid: list[int]) -> str:
    """The expansion written out from Qwen3VLProcessor's source: frame indices 0..n-1 at 24 fps,
    padded to pairs with the last index, each pair at the mean of its two timestamps."""
    idx = list(range(n_frames)) + [n_frames - 1] * (n_frames % 2)
    pads = "<|video_pad|>" * (grid[1] * grid[2] // 4)
    return "".join(
        f"<{(idx[i] + idx[i + 1]) / 2 / 24:.1f} seconds><|vision_start|>{pads}<|vision_end|>"
        for i in range(0, len(idx), 2)
    )


def _official_text(processor, frames: list[Image.Image], grid: list[int]) -> str:
    """transformers' own `replace_video_token` on the metadata it builds for bare frames."""
    from transformers import Qwen3VLProcessor
    from transformers.video_utils import make_batched_metadata

    metadata = make_batched_metadata([np.stack([np.asarray(f) for f in frames])], video_metadata=None)
    ns = SimpleNamespace(
        video_processor=SimpleNamespace(merge_size=2, temporal_patch_size=2),
        video_token="<|video_pad|>",
        vision_start_token="<|vision_start|>",
        vision_end_token="<|vision_end|>",
    )
    ns._calculate_timestamps = lambda *a: Qwen3VLProcessor._calculate_timestamps(ns, *a)  # type: ignore[attr-defined]
    inputs = {"video_grid_thw": torch.tensor([grid]), "video_metadata": metadata}
    return Qwen3VLProcessor.replace_video_token(ns, inputs, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [8, 5])
def test_text_expansion_is_the_official_one(processor, n) -> None:
    frames = _frames(n, seed=n)
    out = processor(text=["<|video_pad|>\nwhat happens?"], videos=[frames])
    grid = out["video_grid_thw"][0].tolist()
    assert grid[0] == (n + 1) // 2  # 8 frames: grid_t = 4
    for want in (_formula_text(processor, n, grid), _official_text(processor, frames, grid)):
        ids = processor.tokenizer([want + "\nwhat happens?"])["input_ids"][0]
        assert out["input_ids"][0] == ids
    assert "<0.3 seconds>" in _formula_text(processor, 8, grid)  # pairs at 0.5/24, 2.5/24, 4.5/24, 6.5/24 s


def _official_patchify(video: np.ndarray, p: int, m: int, t: int) -> np.ndarray:
    """Qwen3VLVideoProcessor.patchify in numpy: (T, C, H, W) -> (gt*gh*gw, C*t*p*p)."""
    if pad := -len(video) % t:
        video = np.concatenate([video, np.repeat(video[-1:], pad, axis=0)])
    T, C, H, W = video.shape
    gt, gh, gw = T // t, H // p, W // p
    x = video.reshape(1, gt, t, C, gh // m, m, p, gw // m, m, p).transpose(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    return x.reshape(gt * gh * gw, C * t * p * p)


def test_pixels_follow_the_video_processor(processor) -> None:
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor, smart_resize

    frames = _frames(8, seed=1)
    out = processor(text=["<|video_pad|>"], videos=[frames], return_tensors="pt")
    size = Qwen3VLVideoProcessor.size  # the tiny checkpoint carries the class default bounds
    h, w = smart_resize(8, 40, 50, factor=32, min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])
    assert out["video_grid_thw"].tolist() == [[4, h // 16, w // 16]]
    image = processor.image_processor(images=[frames[0]], return_tensors="np")["image_grid_thw"][0].tolist()
    assert image[1:] != [h // 16, w // 16]  # the clip-wide budget, not the image processor's
    arr = np.stack([np.asarray(f.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32) for f in frames])
    arr = (arr / 255 - 0.5) / 0.5  # Qwen3VLVideoProcessor's mean and std, not the image processor's
    want = _official_patchify(arr.transpose(0, 3, 1, 2), p=16, m=2, t=2)
    np.testing.assert_allclose(out["pixel_values_videos"].numpy(), want, atol=1e-5)


def test_qwen3_video_encodes_natively(tiny_embedder) -> None:
    emb = tiny_embedder("qwen3_vl")
    frames = _frames(8, seed=2)
    video = Item(text="what happens?", video=frames)
    ((_, inputs),) = emb.prepare([video, Item(text="plain text")]).parts
    assert emb.video_mode == "native"
    assert inputs["video_grid_thw"].tolist()[0][0] == 4 and "pixel_values" not in inputs
    vecs = emb.encode(
        [video, Item(text="what happens?", video=frames[::-1]), Item(text="what happens?", image=frames[0])]
    )
    assert np.isfinite(vecs).all() and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert np.abs(vecs[0] - vecs[1]).max() > 1e-4  # frame order matters
    assert np.abs(vecs[0] - vecs[2]).max() > 1e-4  # a video is not its first frame
    mixed = emb.encode([Item(text="x", image=frames[3]), video, Item(text="y")], batch_size=3)
    np.testing.assert_allclose(mixed[1], vecs[0], atol=1e-5)  # batching leaves a video's vector alone


@pytest.mark.gpu
def test_official_qwen3_video_processor_agrees(processor) -> None:
    try:
        from transformers import Qwen3VLProcessor
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

        official = Qwen3VLVideoProcessor(do_sample_frames=False, cap_pixels_per_frame=False)
        official(videos=[_frames(2)], return_tensors="pt")
    except Exception:  # ImportError, or tvF undefined without torchvision
        pytest.skip("transformers' Qwen3-VL video processor needs torchvision, which does not import here")
    from mme5.model.video_qwen3 import target_size, video_settings

    h, w = target_size(_frames(8), processor.image_processor, video_settings(processor))
    frames = _frames(8, seed=4, h=h, w=w)  # already at the target size: no resampling
    ours = processor(text=["<|video_pad|> a"], videos=[frames], return_tensors="pt")
    theirs = official(videos=[frames], return_tensors="pt")
    assert theirs["video_grid_thw"].tolist() == ours["video_grid_thw"].tolist()
    torch.testing.assert_close(theirs["pixel_values_videos"].float(), ours["pixel_values_videos"], atol=1e-5, rtol=1e-5)
    stock = Qwen3VLProcessor(
        image_processor=processor.image_processor, tokenizer=processor.tokenizer, video_processor=official
    )
    full = stock(text=["<|video_pad|> a"], videos=[frames], do_sample_frames=False, return_tensors="pt")
    assert full["input_ids"].tolist() == ours["input_ids"].tolist()
    resized = _frames(8, seed=5, h=45, w=61)  # resampling differs (torch vs PIL bicubic): close
    a = processor(text=["<|video_pad|>"], videos=[resized], return_tensors="pt")
    b = official(videos=[resized], return_tensors="pt")
    assert a["video_grid_thw"].tolist() == b["video_grid_thw"].tolist()
    assert (a["pixel_values_videos"] - b["pixel_values_videos"].float()).abs().mean() < 0.05


def test_checkpoint_video_config_wins_over_class_defaults(tmp_path) -> None:
    import json

    from mme5.model.video_qwen3 import video_settings

    (tmp_path / "video_preprocessor_config.json").write_text(
        json.dumps({"size": {"shortest_edge": 4096, "longest_edge": 25165824}, "image_mean": [0.1, 0.2, 0.3]})
    )
    got = video_settings(SimpleNamespace(tokenizer=SimpleNamespace(name_or_path=str(tmp_path))))
    assert (got["min_pixels"], got["max_pixels"], got["image_mean"]) == (4096, 25165824, [0.1, 0.2, 0.3])
    assert got["image_std"] == [0.5, 0.5, 0.5]  # unset: Qwen3VLVideoProcessor's default
    bare = video_settings(SimpleNamespace(tokenizer=SimpleNamespace(name_or_path=str(tmp_path / "none"))))
    assert bare["min_pixels"] == 128 * 32 * 32
