"""qwen-vl-utils 0.0.14's resizing re-implemented (mme5.model.qwen_vision): the spec's worked values,
an independent re-derivation in integer arithmetic, and (where torchvision imports) the library."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from mme5.model import qwen_vision as qv
from mme5.types import InputError


def _rederived(h: int, w: int, factor: int, lo: int, hi: int) -> tuple[int, int]:
    """smart_resize from the spec's words, with exact rationals: round half to even, then scale by
    sqrt(h*w/max) down (floor) or sqrt(min/(h*w)) up (ceil) to multiples of `factor`."""

    def half_even(x: Fraction) -> int:
        return int((Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    hb, wb = max(factor, half_even(Fraction(h, factor)) * factor), max(factor, half_even(Fraction(w, factor)) * factor)
    if hb * wb > hi:
        beta = (Decimal(h * w) / Decimal(hi)).sqrt()
        return math.floor(h / beta / factor) * factor, math.floor(w / beta / factor) * factor
    if hb * wb < lo:
        beta = (Decimal(lo) / Decimal(h * w)).sqrt()
        return math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


@pytest.mark.parametrize(
    ("hw", "want"),
    [
        ((480, 640), (480, 640)),  # already multiples of 32, within bounds
        ((1080, 1920), (992, 1792)),  # 1088x1920 > 1,843,200: beta = sqrt(1.125)
        ((10, 10), (64, 64)),  # below 4,096: scaled up by 6.4
        ((80, 112), (64, 128)),  # 2.5 -> 2 and 3.5 -> 4: Python's half-to-even round
        ((3000, 4000), (1152, 1536)),
    ],
)
def test_image_sizes_worked_values(hw, want) -> None:
    got = qv.smart_resize(*hw, 32, qv.MIN_PIXELS, qv.MAX_PIXELS)
    assert got == want == _rederived(*hw, 32, qv.MIN_PIXELS, qv.MAX_PIXELS)
    assert got[0] % 32 == got[1] % 32 == 0 and qv.MIN_PIXELS <= got[0] * got[1] <= qv.MAX_PIXELS


def test_smart_resize_agrees_with_the_rederivation_on_many_shapes() -> None:
    rng = np.random.default_rng(0)
    shapes = rng.integers(8, 5000, size=(300, 2)).tolist() + rng.integers(2, 80, size=(200, 2)).tolist()
    for h, w in shapes:
        if max(h, w) / min(h, w) > 200:
            continue
        for factor, lo, hi in ((32, qv.MIN_PIXELS, qv.MAX_PIXELS), (64, 4 * 64 * 64, 16384 * 64 * 64)):
            assert qv.smart_resize(h, w, factor, lo, hi) == _rederived(h, w, factor, lo, hi), (h, w, factor)
    with pytest.raises(InputError, match="aspect ratio"):
        qv.smart_resize(10, 2010)


@pytest.mark.parametrize(("n", "budget"), [(64, 245_760), (16, 786_432), (8, 786_432), (2, 786_432)])
def test_per_frame_budget_worked_values(n, budget) -> None:
    assert qv.frame_budget(n) == budget
    assert budget == int(max(min(768 * 1024, Fraction(7_864_320 * 2, n)), int(128 * 1024 * 1.05)))


def test_rgba_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 0))  # fully transparent red
    assert qv.to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)
    assert rgba.convert("RGB").getpixel((0, 0)) == (255, 0, 0)  # what a plain convert keeps


def _frames(n: int, h: int = 40, w: int = 50, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(n)]


def test_frame_list_two_stage_resize_pad_and_metadata() -> None:
    import torch

    frames = _frames(5)
    video = qv.frame_list_video(frames)
    # stage 1, factor 64 and default bounds (min 4*64*64): 40x50 -> ceil(40*2.862/64)*64 x ceil(50*2.862/64)*64
    assert _rederived(40, 50, 64, 4 * 64 * 64, 16384 * 64 * 64) == (128, 192)
    # padded to 6 frames; stage 2 at factor 32 within 128*32*32 .. frame_budget(6)
    want = _rederived(128, 192, 32, 128 * 1024, qv.frame_budget(6))
    assert video.frames.shape == (6, *want, 3) and video.frames.dtype == np.uint8
    assert (video.frames[5] == video.frames[4]).all()  # the last frame repeated
    assert video.fps == 2.0 and video.indices == (0, 1, 2, 3, 4, 5)
    assert video.timestamps() == [0.25, 1.25, 2.25]  # pairs (0,1), (2,3), (4,5) at 2 fps
    pre = np.asarray(frames[0].resize((192, 128), Image.Resampling.BICUBIC), dtype=np.float32)
    x = torch.from_numpy(pre).permute(2, 0, 1)[None]
    ref = torch.nn.functional.interpolate(x, size=list(want), mode="bicubic", antialias=True, align_corners=False)
    np.testing.assert_array_equal(video.frames[0], ref[0].clamp(0, 255).round().byte().permute(1, 2, 0).numpy())


def test_more_than_64_frames_are_picked_by_linspace() -> None:
    frames = [f"f{i}" for i in range(100)]
    picked = qv.pick_frames(frames)
    assert len(picked) == 64 and picked[0] == "f0" and picked[-1] == "f99"
    assert picked == [frames[int(i * 99 / 63)] for i in range(64)]


@pytest.mark.parametrize(("total", "fps", "want"), [(300, 30.0, 10), (3000, 25.0, 64), (40, 30.0, 4), (5, 30.0, 4)])
def test_file_frame_counts(total, fps, want) -> None:
    """fps 1: one frame a second, at least 4, at most 64 and the file's count, even."""
    assert qv.file_frame_count(total, fps) == want


def test_video_file_is_sampled_at_one_fps(tmp_path) -> None:
    import av

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(50):  # 5 seconds at 10 fps
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 5, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    video = qv.video_file(path)
    assert video.fps == 10.0 and len(video.indices) == 4  # 5 s -> 5 frames -> floor to even 4
    assert list(video.indices) == [round(i * 49 / 3) for i in range(4)]
    assert video.timestamps() == [(0 + 16) / 2 / 10, (33 + 49) / 2 / 10]


@pytest.mark.parametrize("name,limit", [("lying", "max_image_pixels"), ("long", "max_frames")])
def test_hostile_video_files_stop_within_the_media_policy(name, limit) -> None:
    """The profile's own video path (all frames counted, the picked ones decoded) keeps the limits of
    mme5.media_policy: a header-lying clip and a 12,600-frame clip are refused fast, naming the limit."""
    import time

    from mme5.media_policy import LimitError

    from media import hostile  # tests/media (the hostile files the media tests generate)

    data = hostile.header_lying_video() if name == "lying" else hostile.long_video(12_600, 2896)
    started = time.monotonic()
    with pytest.raises(LimitError, match=limit):
        qv.video_file(data, where="clip")
    assert time.monotonic() - started < 5


@pytest.mark.gpu
def test_qwen_vl_utils_agrees() -> None:
    """The library itself, where torchvision imports (a GPU machine with qwen-vl-utils 0.0.14)."""
    vp = pytest.importorskip("qwen_vl_utils.vision_process")
    for h, w in ((40, 50), (480, 640), (1080, 1920), (10, 10), (80, 112)):
        assert vp.smart_resize(h, w, 32, qv.MIN_PIXELS, qv.MAX_PIXELS) == qv.smart_resize(h, w)
        img = _frames(1, h, w, seed=h)[0]
        ours = qv.resize_image(img, min_pixels=qv.MIN_PIXELS, max_pixels=qv.MAX_PIXELS)
        theirs = vp.fetch_image({"image": img, "min_pixels": qv.MIN_PIXELS, "max_pixels": qv.MAX_PIXELS}, 16)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    frames = _frames(5, 45, 61, seed=3)
    (video, meta), _ = vp.fetch_video(
        {"video": frames, "total_pixels": qv.TOTAL_PIXELS},
        image_patch_size=16,
        return_video_sample_fps=True,
        return_video_metadata=True,
    )
    ours = qv.frame_list_video(frames)
    assert tuple(video.shape) == (len(ours.indices), 3, *ours.frames.shape[1:3])
    assert meta["fps"] == ours.fps and list(meta["frames_indices"]) == list(ours.indices)
    diff = np.abs(video.numpy().transpose(0, 2, 3, 1) - ours.frames.astype(np.float32))
    assert diff.max() <= 1  # torchvision's native uint8 bicubic may round differently by one level
