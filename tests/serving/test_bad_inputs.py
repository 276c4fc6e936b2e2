"""Every bad input is a 4xx naming what is wrong, and the server keeps serving afterwards."""
from __future__ import annotations

import functools
import http.server
import threading

import httpx
import numpy as np
import pytest
from PIL import Image

from mme5.media_policy import MediaPolicy
from mme5.types import Item

from .conftest import data_url, png_bytes, running_server


def big_png() -> bytes:
    return png_bytes(Image.new("RGB", (300, 300), "red"))  # 90,000 px > the 40,000 px limit


def header_only_png(side: int) -> bytes:
    """A valid header for side x side pixels with the pixel data cut off: reading its size works, decoding fails."""
    data = png_bytes(Image.effect_noise((side, side), 50).convert("RGB"))
    return data[:data.index(b"IDAT") + 60]


def truncated_png(assets) -> bytes:
    return (assets / "cat.png").read_bytes()[:200]


BAD = {  # name -> (request body, status, fragment of the message)
    "invalid base64": ({"input": [{"image": "data:image/png;base64,@@not-base64@@"}]}, 400, "invalid base64"),
    "non-image bytes": ({"input": [{"image": data_url(b"just some text, not an image")}]}, 400, "not a readable image"),
    "oversized image": ({"input": [{"image": data_url(big_png())}]}, 413, "300x300 = 90000 pixels"),
    # 4 x 180x180 = 129600 px > the 100,000 px per request; refused before any is decoded (they would fail to)
    "too many pixels in request": ({"input": [{"image": data_url(header_only_png(180))}] * 4}, 413,
                                   "the images total 129600 pixels; the limit per request is 100000"),
    "non-image media type": ({"input": [{"image": data_url(b"x", "text/plain")}]}, 400, "expected image/*"),
    "data URL without base64": ({"input": [{"image": "data:image/png,abc"}]}, 400, "data:image/png;base64"),
    "path traversal": ({"input": [{"image": "../outside.png"}]}, 403, "outside the image root"),
    "absolute path outside": ({"input": [{"image": "/etc/passwd"}]}, 403, "outside the image root"),
    "symlink out of root": ({"input": [{"image": "escape.png"}]}, 403, "outside the image root"),
    "NUL byte in path": ({"input": [{"image": "cat\u0000.png"}]}, 400,
                         "input[0].image: image path 'cat\\x00.png' is not a readable file (embedded null byte)"),
    "file name too long": ({"input": [{"image": "a" * 300 + ".png"}]}, 400, "not a readable file (File name too long)"),
    "missing file": ({"input": [{"image": "sub/nope.png"}]}, 400, "not found under the image root"),
    "remote URL disabled": ({"input": [{"image": "http://127.0.0.1:9/cat.png"}]}, 400, "--allow-remote-images"),
    "file URL": ({"input": [{"image": "file:///etc/passwd"}]}, 400, "unsupported image URL scheme"),
    "empty string input": ({"input": ""}, 400, "input is empty"),
    "empty string in list": ({"input": ["a", ""]}, 400, "input[1] is empty"),
    "whitespace-only text": ({"input": ["a", {"text": "  ", "instruction": "\n"}]}, 400, "input[1] is empty"),
    "empty list": ({"input": []}, 400, "input is empty"),
    "empty item": ({"input": [{"language": "en"}]}, 400, "input[0] is empty"),
    "too many items": ({"input": ["a"] * 9}, 400, "at most 8 per request"),
    "text too long": ({"input": ["ok", "x" * 1001]}, 400, "input[1].text has 1001 characters"),
    "wrong model": ({"input": "a", "model": "gpt-4"}, 404, "'gpt-4' is not served here"),
    "unknown item field": ({"input": [{"txt": "a"}]}, 400, "input[0].txt: Extra inputs"),
    "token ids": ({"input": [1, 2, 3]}, 400, "input[0] must be a string or an item object"),
    "bad encoding_format": ({"input": "a", "encoding_format": "int4"}, 400, "encoding_format"),
    "request too large": ({"input": "y" * 300_000}, 413, "at most 262144 bytes"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_refused_then_server_still_serves(server, embedder, assets, name):
    body, status, fragment = BAD[name]
    response = httpx.post(f"{server}/v1/embeddings", json=body, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert fragment in error["message"], error
    good = httpx.post(f"{server}/v1/embeddings", json={"input": "still serving"}, timeout=30)
    assert good.status_code == 200
    np.testing.assert_array_equal(np.array(good.json()["data"][0]["embedding"], dtype=np.float32),
                                  embedder.encode(["still serving"])[0])


def test_truncated_image_and_malformed_json(server, assets):
    broken = httpx.post(f"{server}/v1/embeddings", json={"input": [{"image": data_url(truncated_png(assets))}]}, timeout=30)
    assert broken.status_code == 400 and "image" in broken.json()["error"]["message"]
    malformed = httpx.post(f"{server}/v1/embeddings", content=b'{"input": [1,', headers={"content-type": "application/json"}, timeout=30)
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["error"]["message"]


def test_local_paths_disabled_without_image_root(embedder):
    from mme5.serving import ServerSettings, create_app

    with running_server(create_app(embedder, ServerSettings())) as url:
        response = httpx.post(f"{url}/v1/embeddings", json={"input": [{"image": "cat.png"}]}, timeout=30)
        assert response.status_code == 400 and "--image-root" in response.json()["error"]["message"]


def test_api_key(embedder):
    from mme5.serving import ServerSettings, create_app

    with running_server(create_app(embedder, ServerSettings(api_key="s3cret"))) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            refused = httpx.post(f"{url}/v1/embeddings", json={"input": "a"}, headers=headers, timeout=30)
            assert refused.status_code == 401 and "API key" in refused.json()["error"]["message"]
        assert httpx.get(f"{url}/v1/models", timeout=30).status_code == 401
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200  # probes stay open
        ok = httpx.post(f"{url}/v1/embeddings", json={"input": "a"}, headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert ok.status_code == 200


def test_remote_images_when_allowed(embedder, assets, tmp_path):
    """A real HTTP file server on loopback: the fetched image embeds like the local file."""
    from mme5.serving import ServerSettings, create_app

    (tmp_path / "cat.png").write_bytes((assets / "cat.png").read_bytes())
    (tmp_path / "big.png").write_bytes(big_png())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{files.server_address[1]}"
    try:
        settings = ServerSettings(allow_remote_images=True, media=MediaPolicy(max_image_pixels=200 * 200))
        with running_server(create_app(embedder, settings)) as url:
            ok = httpx.post(f"{url}/v1/embeddings", json={"input": [{"image": f"{base}/cat.png"}]}, timeout=30)
            assert ok.status_code == 200, ok.text
            np.testing.assert_array_equal(np.array(ok.json()["data"][0]["embedding"], dtype=np.float32),
                                          embedder.encode([Item(image=str(assets / "cat.png"))])[0])
            missing = httpx.post(f"{url}/v1/embeddings", json={"input": [{"image": f"{base}/nope.png"}]}, timeout=30)
            assert missing.status_code == 400 and "HTTP 404" in missing.json()["error"]["message"]
            big = httpx.post(f"{url}/v1/embeddings", json={"input": [{"image": f"{base}/big.png"}]}, timeout=30)
            assert big.status_code == 413
    finally:
        files.shutdown()
