"""Qwen-VL video patching without torchvision: the image processor's arithmetic, frame pairs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mme5.model.video import official_video_processor, qwen_video_inputs


def _image(seed: int, h: int = 40, w: int = 50) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def processor(tiny_dirs):
    from mme5.model.backbones import get_backbone

    return get_backbone("qwen2_vl").processor_class().from_pretrained(str(tiny_dirs("qwen2_vl")))


def test_two_identical_frames_are_the_image(processor) -> None:
    img = _image(0)
    image = processor(text=["a <|image_pad|>"], images=[img], return_tensors="pt")
    video = processor(text=["a <|video_pad|>"], videos=[[img, img.copy()]], return_tensors="pt")
    assert torch.equal(video["pixel_values_videos"], image["pixel_values"])
    assert video["video_grid_thw"].tolist() == [[1, *image["image_grid_thw"][0, 1:].tolist()]]
    # same number of expanded pad tokens, tagged as video (2) for M-RoPE
    assert video["input_ids"].shape == image["input_ids"].shape
    assert (video["mm_token_type_ids"] == 2).sum() == (image["mm_token_type_ids"] == 1).sum() > 0


def test_eight_frames_grid_and_pair_layout(processor) -> None:
    frames = [_image(k) for k in range(8)]
    out = qwen_video_inputs([frames], processor.image_processor)
    ip = processor.image_processor
    grid = out["video_grid_thw"][0].tolist()
    assert grid[0] == 4
    per = [processor.image_processor(images=[f], return_tensors="np") for f in frames]
    n, t, p = grid[1] * grid[2], ip.temporal_patch_size, ip.patch_size
    vid = out["pixel_values_videos"].numpy().reshape(4, n, 3, t, p, p)
    for k, f in enumerate(per):  # frame k sits in group k // 2, temporal slot k % 2
        img = np.asarray(f["pixel_values"]).reshape(n, 3, t, p, p)[:, :, 0]
        np.testing.assert_array_equal(vid[k // 2, :, :, k % 2], img)
    assert processor(text=["<|video_pad|>"], videos=[frames])["input_ids"][0].count(
        processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")) == 4 * n // ip.merge_size ** 2


def test_odd_count_repeats_last_and_other_sizes_follow_the_first(processor) -> None:
    frames = [_image(1), _image(2), _image(3)]
    out = qwen_video_inputs([frames], processor.image_processor)
    grid = out["video_grid_thw"][0].tolist()
    assert grid[0] == 2
    n = grid[1] * grid[2]
    vid = out["pixel_values_videos"].numpy().reshape(2, n, -1)
    same = qwen_video_inputs([[frames[2], frames[2]]], processor.image_processor)["pixel_values_videos"].numpy()
    np.testing.assert_array_equal(vid[1], same)
    mixed = qwen_video_inputs([[_image(4, 40, 50), _image(5, 90, 30)]], processor.image_processor)
    assert mixed["video_grid_thw"][0].tolist() == [1, *grid[1:]]


@pytest.mark.gpu
def test_official_video_processor_agrees(processor) -> None:
    official = official_video_processor(processor.image_processor)
    if official is None:
        pytest.skip("transformers' Qwen2-VL video processor needs torchvision, which does not import here")
    ip = processor.image_processor
    side = ip.patch_size * ip.merge_size * 2  # frames already at their target size: no resampling
    frames = [_image(k, side, side) for k in range(8)]
    ours = qwen_video_inputs([frames], ip)
    theirs = official(videos=[frames], return_tensors="pt", cap_pixels_per_frame=False)
    assert theirs["video_grid_thw"].tolist() == ours["video_grid_thw"].tolist()
    torch.testing.assert_close(theirs["pixel_values_videos"].float(), ours["pixel_values_videos"], atol=1e-5, rtol=1e-5)
    resized = [_image(k, 45, 61) for k in range(8)]  # resampling differs (torch vs PIL bicubic): close
    a = qwen_video_inputs([resized], ip)
    b = official(videos=[resized], return_tensors="pt", cap_pixels_per_frame=False)
    assert a["video_grid_thw"].tolist() == b["video_grid_thw"].tolist()
    assert (a["pixel_values_videos"] - b["pixel_values_videos"].float()).abs().mean() < 0.05
