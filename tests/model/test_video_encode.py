"""Video items through the Embedder: native on Qwen2-VL, the middle-frame fallback on Mllama."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mme5.types import InputError, Item


def _frames(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.mark.parametrize("backbone", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_video_encodes_natively(tiny_embedder, backbone) -> None:
    emb = tiny_embedder(backbone)
    frames = _frames(8)
    video = Item(text="what happens?", video=frames)
    prepared = emb.prepare([video, Item(text="plain text")])
    (_, inputs), = prepared.parts
    assert inputs["video_grid_thw"].tolist()[0][0] == 4 and "pixel_values" not in inputs
    vecs = emb.encode([video, Item(text="what happens?", video=frames[::-1]), Item(text="what happens?", image=frames[0])])
    assert emb.video_mode == "native"
    assert np.isfinite(vecs).all() and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert np.abs(vecs[0] - vecs[1]).max() > 1e-4  # frame order matters
    assert np.abs(vecs[0] - vecs[2]).max() > 1e-4  # a video is not its first frame
    # batching does not change a video's vector (mixed with image and text rows)
    mixed = emb.encode([Item(text="x", image=frames[3]), video, Item(text="y")], batch_size=3)
    np.testing.assert_allclose(mixed[1], vecs[0], atol=1e-5)


def test_two_identical_frames_encode_like_the_image_tokens(tiny_embedder) -> None:
    """The pixel tensors agree exactly; the vectors differ only by the video vs image markup."""
    emb = tiny_embedder("qwen2_vl")
    img = _frames(1, seed=3)[0]
    (_, v), = emb.prepare([Item(text="a", video=[img, img])]).parts
    (_, i), = emb.prepare([Item(text="a", image=img)]).parts
    assert (v["pixel_values_videos"] == i["pixel_values"]).all()
    assert v["input_ids"].shape == i["input_ids"].shape


def test_video_file_and_folder_items(tiny_embedder, tmp_path) -> None:
    import av

    frames = _frames(20, seed=5)
    with av.open(str(tmp_path / "v.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = 50, 40, "yuv444p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_image(f)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    (tmp_path / "frames").mkdir()
    for k, f in enumerate(frames):
        f.save(tmp_path / "frames" / f"frame_{k + 1}.png")
    emb = tiny_embedder("qwen2_vl")
    from_file, from_dir = emb.encode([Item(text="v", video=tmp_path / "v.mkv"), Item(text="v", video=tmp_path / "frames")])
    np.testing.assert_allclose(from_file, from_dir, atol=2e-3)  # yuv round trip: near-identical pixels


def test_image_and_video_together_is_refused(tiny_embedder) -> None:
    img = _frames(1)[0]
    with pytest.raises(InputError, match="image or a video, not both"):
        tiny_embedder("qwen2_vl").encode([Item(text="x", image=img, video=[img, img])])


def test_mllama_fallback_is_the_middle_frame(tiny_embedder) -> None:
    emb = tiny_embedder("mllama")
    frames = _frames(8, seed=7)
    assert emb.video_mode == "middle-frame"
    got = emb.encode([Item(text="clip", video=frames), Item(text="other")])
    want = emb.encode([Item(text="clip", image=frames[4]), Item(text="other")])  # frames[8 // 2]
    np.testing.assert_allclose(got, want, atol=1e-6)
    odd = _frames(5, seed=8)
    np.testing.assert_allclose(emb.encode([Item(text="c", video=odd)]), emb.encode([Item(text="c", image=odd[2])]), atol=1e-6)
