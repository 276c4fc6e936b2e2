"""/v1/embeddings returns exactly Embedder.encode's vectors, in every encoding and under load."""
from __future__ import annotations

import asyncio
import base64

import httpx
import numpy as np
import pytest

from mme5.types import Item

from .conftest import data_url, running_server


def post(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", json=body, timeout=60)


def vectors_of(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return np.array([d["embedding"] for d in data], dtype=np.float32)


def test_text_image_and_image_text_equal_encode(server, embedder, assets):
    cat = (assets / "cat.png").read_bytes()
    wire = ["a cat on a sofa",
            {"image": data_url(cat)},
            {"image": data_url(cat), "text": "What is in the image", "instruction": "Represent the given image with the following question:"},
            {"text": "Ein Hund", "instruction": "Find an image that matches the caption:", "language": "de"}]
    direct = [Item(text="a cat on a sofa"), Item(image=str(assets / "cat.png")),
              Item(image=str(assets / "cat.png"), text="What is in the image", instruction="Represent the given image with the following question:"),
              Item(text="Ein Hund", instruction="Find an image that matches the caption:", language="de")]
    response = post(server, {"input": wire, "model": "tiny"})
    body = response.json()
    assert body["object"] == "list" and body["model"] == "tiny"
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    # a lone request is one encode call over the same items: bit-identical to the library
    np.testing.assert_array_equal(vectors_of(response), embedder.encode(direct, batch_size=32))


def test_single_string_and_single_item(server, embedder, assets):
    np.testing.assert_array_equal(vectors_of(post(server, {"input": "hello"})), embedder.encode(["hello"]))
    one = post(server, {"input": {"image": "sub/dog.png", "text": "a dog"}})
    np.testing.assert_array_equal(vectors_of(one), embedder.encode([Item(image=str(assets / "dog.png"), text="a dog")]))


def test_image_path_under_root_equals_data_url(server, assets):
    by_path = vectors_of(post(server, {"input": [{"image": "cat.png"}]}))
    by_url = vectors_of(post(server, {"input": [{"image": data_url((assets / "cat.png").read_bytes())}]}))
    np.testing.assert_array_equal(by_path, by_url)


def test_base64_encoding_is_little_endian_float32(server):
    texts = ["one", "two three"]
    floats = vectors_of(post(server, {"input": texts}))
    response = post(server, {"input": texts, "encoding_format": "base64"})
    decoded = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in response.json()["data"]])
    np.testing.assert_array_equal(decoded, floats)


def test_dimensions_truncate_and_renormalise(server, embedder):
    full = embedder.encode(["truncate me", "and me"])
    cut = vectors_of(post(server, {"input": ["truncate me", "and me"], "dimensions": 16}))
    expected = full[:, :16] / np.linalg.norm(full[:, :16], axis=1, keepdims=True)
    assert cut.shape == (2, 16)
    np.testing.assert_allclose(cut, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    too_many = post(server, {"input": "x", "dimensions": embedder.dim + 1})
    assert too_many.status_code == 400 and "dimensions" in too_many.json()["error"]["message"]


def test_usage_counts_the_tokens_the_model_read(server, embedder, assets):
    """Text, special and image tokens: the processor's attention mask, computed independently here."""
    cat = str(assets / "cat.png")
    items = [Item(text="cat " * 40), Item(image=cat, text="what is this?"), Item(text="cat")]
    body = {"input": ["cat " * 40, {"image": data_url((assets / "cat.png").read_bytes()), "text": "what is this?"}, "cat"]}
    used = post(server, body).json()["usage"]["prompt_tokens"]
    expected = sum(int(embedder.prepare([item]).parts[0][1]["attention_mask"].sum()) for item in items)
    text_only = len(embedder.tokenizer("cat " * 40, add_special_tokens=False).input_ids)
    assert used == expected and expected > text_only


def test_models_health_metrics(server, embedder):
    models = httpx.get(f"{server}/v1/models", timeout=30).json()
    assert models["data"][0]["id"] == "tiny" and models["data"][0]["dimensions"] == embedder.dim
    assert models["data"][0]["fingerprint"] == embedder.fingerprint
    health = httpx.get(f"{server}/health", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    post(server, {"input": "counted"})
    assert post(server, {"input": "z" * 300_000}).status_code == 413  # refused before parsing, still counted
    text = httpx.get(f"{server}/metrics", timeout=30).text
    assert 'mme5_requests_total{endpoint="/v1/embeddings",status="200"}' in text
    assert 'mme5_requests_total{endpoint="/v1/embeddings",status="413"}' in text
    assert "mme5_batch_size_items_bucket" in text and "mme5_request_latency_seconds_bucket" in text


def test_parity_under_concurrent_load(embedder, assets):
    """48 concurrent requests (text, image, image+text) batched together: each gets its own vectors."""
    from mme5.serving import ServerSettings, create_app

    cat, dog = (assets / "cat.png").read_bytes(), (assets / "dog.png").read_bytes()

    def request(i: int) -> tuple[list, list[Item]]:
        kind = i % 3
        if kind == 0:
            return [f"query number {i} " * (1 + i % 4)], [Item(text=f"query number {i} " * (1 + i % 4))]
        image, path = (cat, "cat.png") if i % 2 else (dog, "dog.png")
        if kind == 1:
            return [{"image": data_url(image)}, f"text {i}"], [Item(image=str(assets / path)), Item(text=f"text {i}")]
        return ([{"image": data_url(image), "text": f"caption {i}", "instruction": "Represent:"}],
                [Item(image=str(assets / path), text=f"caption {i}", instruction="Represent:")])

    requests = [request(i) for i in range(48)]
    settings = ServerSettings(model_name="tiny", max_batch_size=16, max_wait_ms=50)
    with running_server(create_app(embedder, settings)) as url:
        async def load() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                return await asyncio.gather(*(client.post("/v1/embeddings", json={"input": wire}) for wire, _ in requests))

        responses = asyncio.run(load())
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
    for response, (_, items) in zip(responses, requests):
        # batch neighbours change padding: equal up to float rounding, and never another request's vector
        np.testing.assert_allclose(vectors_of(response), embedder.encode(items), atol=1e-5)
    n_items = sum(len(items) for _, items in requests)
    forwards = _metric(metrics, "mme5_batch_size_items_count")
    assert _metric(metrics, "mme5_batch_size_items_sum") == n_items
    assert forwards < n_items, "requests were never batched together"


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    pytest.fail(f"{name} not in /metrics")
