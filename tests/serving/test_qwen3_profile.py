"""`mme5 serve` of a Qwen3-VL-Embedding checkpoint applies its profile: the server's vectors are the
profile's (instruction in the system turn, media resized as the protocol does)."""

from __future__ import annotations

import shutil

import httpx
import numpy as np
from PIL import Image

from mme5.types import Item

from .conftest import data_url, png_bytes, running_server


def test_server_vectors_follow_the_profile(tiny_dirs, tmp_path) -> None:
    from mme5 import Embedder
    from mme5.serving import ServerSettings, create_app

    named = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    emb = Embedder.from_pretrained(named, device="cpu")
    assert emb.profile == "qwen3-vl-embedding"
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8))
    wire = [{"text": "a cat", "instruction": "Find the photo"}, {"image": data_url(png_bytes(image))}]
    with running_server(create_app(emb, ServerSettings(model_name="q3"))) as url:
        response = httpx.post(f"{url}/v1/embeddings", json={"input": wire}, timeout=60)
    assert response.status_code == 200, response.text
    got = np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)
    want = emb.encode([Item(text="a cat", instruction="Find the photo"), Item(image=image)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    plain = Embedder.from_pretrained(named, device="cpu", profile="mme5").encode(
        [Item(text="a cat", instruction="Find the photo")]
    )
    assert np.abs(plain[0] - got[0]).max() > 1e-3  # the profile, not mme5's convention


def test_server_videos_reach_the_profile_whole(tiny_dirs, tmp_path) -> None:
    """A video file sent to a Qwen3-VL-Embedding server is read by the profile (fps 1, up to 64
    frames), not sampled to mme5's 8 frames first: the vector equals encoding the file."""
    import base64

    import av

    from mme5 import Embedder
    from mme5.serving import ServerSettings, create_app

    named = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    emb = Embedder.from_pretrained(named, device="cpu")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(60):  # 6 seconds at 10 fps: the profile takes 6 frames, mme5's sampling 8
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 4, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    url_data = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    with running_server(create_app(emb, ServerSettings(model_name="q3"))) as url:
        response = httpx.post(f"{url}/v1/embeddings", json={"input": [{"video": url_data}]}, timeout=60)
    assert response.status_code == 200, response.text
    got = np.array(response.json()["data"][0]["embedding"], dtype=np.float32)
    np.testing.assert_allclose(got, emb.encode([Item(video=str(path))])[0], atol=1e-5)


def test_index_json_names_the_profile(tiny_dirs, tmp_path) -> None:
    import json

    from mme5 import Embedder
    from mme5.cli.main import main
    from mme5.index.engines import EmbedderSpec

    named = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": f"document {i}", "instruction": "Represent it"}) + "\n" for i in range(3))
    )
    out = tmp_path / "index"
    assert main(["index", "build", "--input", str(corpus), "--output", str(out), "--model", str(named)]) == 0
    info = json.loads((out / "index.json").read_text())["model"]
    emb = Embedder.from_pretrained(named, device="cpu")
    assert info["profile"] == "qwen3-vl-embedding" and info["fingerprint"] == emb.fingerprint
    assert EmbedderSpec(model=str(named)).fingerprint("cpu") == emb.fingerprint  # known before loading
