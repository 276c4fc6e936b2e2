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
