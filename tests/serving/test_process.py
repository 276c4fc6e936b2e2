"""`mme5 serve` as a real process on loopback: start, answer the documented requests, shut down."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from mme5.types import Item

from .conftest import data_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
@pytest.mark.slow
def test_mme5_serve_process(tiny_dirs, embedder, assets, tmp_path):
    from mme5.index.build import build_index

    model = tiny_dirs("mllama")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "id": t}) + "\n" for t in ["a cat", "a dog", "an apple"]))
    build_index(embedder, corpus, tmp_path / "index")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MME5_API_KEY": "k3y"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mme5.cli.main", "serve", "--model", str(model), "--port", str(port),
         "--index", str(tmp_path / "index"), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer k3y"}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"server exited early:\n{proc.stdout.read()}"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.2)
        cat = data_url((assets / "cat.png").read_bytes())
        body = {"model": model.name, "input": ["A cat and a dog.", {"image": cat},
                                               {"image": cat, "text": "What is in the image"}]}
        assert httpx.post(f"{url}/v1/embeddings", json=body, timeout=30).status_code == 401  # MME5_API_KEY is honoured
        response = httpx.post(f"{url}/v1/embeddings", json=body, headers=auth, timeout=30)
        assert response.status_code == 200, response.text
        got = np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)
        expected = embedder.encode([Item(text="A cat and a dog."), Item(image=str(assets / "cat.png")),
                                    Item(image=str(assets / "cat.png"), text="What is in the image")])
        np.testing.assert_allclose(got, expected, atol=1e-6)  # another process, same weights and code
        hits = httpx.post(f"{url}/v1/search", json={"query": {"text": "a dog", "instruction": None}, "top_k": 3}, headers=auth, timeout=30).json()["data"]
        assert len(hits) == 3 and hits[0]["id"] == "a dog" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert f"on http://127.0.0.1:{port}" in out


@pytest.mark.parametrize("argv, message", [
    (["--index", "/nonexistent/index"], "is not a complete index"),
    (["--set", "max_items=0"], "max_items must be > 0"),
    (["--set", "max_itmes=3"], "unknown key(s) ['max_itmes'] (did you mean max_items"),
    (["--image-root", "/nonexistent/images"], "is not a folder"),
])
def test_serve_cli_refuses_bad_options_before_loading(argv, message, capsys):
    from mme5.cli.main import main

    assert main(["serve", *argv]) == 2
    assert message in capsys.readouterr().err
