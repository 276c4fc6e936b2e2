"""/v1/embeddings and /v1/search with videos (frames, a video file) and PDFs (one vector per page),
under the same pixel and item limits as images (every frame and page counts)."""
from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from mme5.media_policy import MediaPolicy
from mme5.types import Item

from .conftest import data_url, png_bytes, running_server


def _frames(n: int, seed: int, size=(40, 30)) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


def _video_bytes(frames: list[Image.Image]) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv444p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_image(f)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def _pdf_bytes(n: int, size=(60, 40)) -> bytes:
    pages = [Image.new("RGB", size, (50 * k, 120, 200 - 50 * k)) for k in range(n)]
    buf = io.BytesIO()
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:], resolution=72)
    return buf.getvalue()


@pytest.fixture(scope="module")
def qwen(tiny_embedder):
    return tiny_embedder("qwen2_vl")


@pytest.fixture(scope="module")
def media_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media_root")
    (root / "clip").mkdir()
    for k, f in enumerate(_frames(12, seed=3)):
        f.save(root / "clip" / f"frame_{k + 1}.png")
    (root / "clip.mkv").write_bytes(_video_bytes(_frames(20, seed=4)))
    (root / "doc.pdf").write_bytes(_pdf_bytes(3))
    return root


@pytest.fixture(scope="module")
def url(qwen, media_root):
    from mme5.serving import ServerSettings, create_app

    settings = ServerSettings(model_name="tiny", image_root=str(media_root), max_items=8, max_queue_items=64,
                              media=MediaPolicy(max_image_pixels=100 * 100), max_request_pixels=60_000, max_request_bytes=1 << 20)
    with running_server(create_app(qwen, settings)) as base:
        yield base


def post(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", json=body, timeout=60)


def test_videos_as_frames_file_and_folder_equal_encode(url, qwen, media_root) -> None:
    frames = _frames(10, seed=1)
    wire = [{"video": [data_url(png_bytes(f)) for f in frames], "text": "what happens"},
            {"video": data_url((media_root / "clip.mkv").read_bytes(), "video/x-matroska")},
            {"video": "clip.mkv"}, {"video": "clip", "instruction": "Understand the content of the provided video."}]
    response = post(url, {"input": wire})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == [0, 1, 2, 3] and all("page" not in d for d in data)
    got = np.array([d["embedding"] for d in data], dtype=np.float32)
    want = qwen.encode([Item(video=frames, text="what happens"), Item(video=media_root / "clip.mkv"),
                        Item(video=media_root / "clip.mkv"),
                        Item(video=media_root / "clip", instruction="Understand the content of the provided video.")])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_pdf_gives_one_vector_per_page(url, qwen, media_root) -> None:
    response = post(url, {"input": ["before", {"pdf": data_url(_pdf_bytes(2), "application/pdf")}, {"pdf": "doc.pdf"}]})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [(d["index"], d.get("page")) for d in data] == [(0, None), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3)]
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(media_root / "doc.pdf"))
    pages = [doc[k].render(scale=2).to_pil().convert("RGB") for k in range(3)]
    got = np.array([d["embedding"] for d in data[3:]], dtype=np.float32)
    np.testing.assert_allclose(got, qwen.encode([Item(image=p) for p in pages]), atol=1e-5)


@pytest.mark.parametrize("item, status, needle", [
    ({"video": [data_url(png_bytes(Image.new("RGB", (60, 60))))] * 17}, 413, "total"),  # 17 x 3600 > 60,000
    ({"video": [data_url(png_bytes(Image.new("RGB", (120, 100))))]}, 413, "limit is 10000"),
    ({"video": data_url(_video_bytes(_frames(3, seed=0, size=(120, 100))), "video/x-matroska")}, 413, "120x100"),
    ({"video": data_url(b"not a video", "video/mp4")}, 400, "not a readable video"),
    ({"video": data_url(b"abc", "image/png")}, 400, "expected video/*"),
    ({"video": "../outside"}, 403, "outside the image root"),
    ({"video": "missing.mp4"}, 400, "not found under the image root"),
    ({"video": []}, 400, "is empty"),
    ({"pdf": data_url(b"%PDF-1.4 nope", "application/pdf")}, 400, "cannot open PDF"),
    ({"pdf": data_url(_pdf_bytes(1, size=(200, 200)), "application/pdf")}, 413, "page 1 at 144 dpi is 400x400"),
    ({"pdf": data_url(_pdf_bytes(9, size=(20, 20)), "application/pdf")}, 400, "each PDF page is one"),
])
def test_limits_and_bad_media(url, item, status, needle) -> None:
    response = post(url, {"input": [item]})
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


def test_search_with_video_and_pdf_queries(qwen, media_root, tmp_path) -> None:
    from mme5.serving import ServerSettings, create_app
    from mme5.index.build import build_index

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(f'{{"text": "page {k}"}}\n' for k in range(3)))
    vectors = qwen.encode([Item(text=f"page {k}") for k in range(3)])
    index = build_index(qwen, corpus, tmp_path / "index")
    settings = ServerSettings(model_name="tiny", image_root=str(media_root))
    with running_server(create_app(qwen, settings, index=index)) as base:
        ok = httpx.post(f"{base}/v1/search", json={"query": {"video": "clip", "text": "find"}, "top_k": 2}, timeout=60)
        assert ok.status_code == 200, ok.text
        want = qwen.encode([Item(video=media_root / "clip", text="find", instruction=index.query_instruction)])[0]
        assert ok.json()["data"][0]["score"] == pytest.approx(float(np.max(vectors @ want)), abs=1e-5)
        one = httpx.post(f"{base}/v1/search", json={"query": {"pdf": data_url(_pdf_bytes(1), "application/pdf")}}, timeout=60)
        assert one.status_code == 200, one.text
        many = httpx.post(f"{base}/v1/search", json={"query": {"pdf": "doc.pdf"}}, timeout=60)
        assert many.status_code == 400 and "query.pdf has 3 pages" in many.json()["error"]["message"]
