"""Serving fixtures: the app on a real uvicorn server in a background thread, on 127.0.0.1."""
from __future__ import annotations

import base64
import io
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from mme5.media_policy import MediaPolicy

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("faiss")


@contextmanager
def running_server(app) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields the base URL, shuts down on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def embedder(tiny_embedder):
    return tiny_embedder("mllama")


@pytest.fixture(scope="session")
def assets() -> Path:
    from importlib import resources

    return Path(str(resources.files("mme5").joinpath("assets")))


@pytest.fixture(scope="session")
def image_root(tmp_path_factory, assets) -> Path:
    """A served image folder: cat.png, sub/dog.png, and a symlink that points outside it."""
    base = tmp_path_factory.mktemp("images")
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (root / "cat.png").write_bytes((assets / "cat.png").read_bytes())
    (root / "sub" / "dog.png").write_bytes((assets / "dog.png").read_bytes())
    (base / "outside.png").write_bytes((assets / "apple.png").read_bytes())
    (root / "escape.png").symlink_to(base / "outside.png")
    return root


SERVER_LIMITS = dict(max_items=8, max_queue_items=64, media=MediaPolicy(max_image_pixels=200 * 200), max_request_pixels=100_000,
                     max_text_chars=1000, max_request_bytes=256 * 1024)


@pytest.fixture(scope="module")
def server(embedder, image_root) -> Iterator[str]:
    """Default settings with an image root and small limits (so limit tests stay cheap)."""
    from mme5.serving import ServerSettings, create_app

    settings = ServerSettings(model_name="tiny", image_root=str(image_root), **SERVER_LIMITS)
    with running_server(create_app(embedder, settings)) as url:
        yield url
