"""/v1/embeddings in Cohere's compact formats (encoding_format / embedding_types), and `dimensions`
limited to the prefix lengths the model was trained for."""

from __future__ import annotations

import base64

import numpy as np

from .conftest import running_server
from .test_embeddings import post

TEXTS = ["one", "two three", "a cat on a sofa"]


def prefix(v: np.ndarray, d: int) -> np.ndarray:
    return v[:, :d] / np.linalg.norm(v[:, :d], axis=1, keepdims=True)


def test_every_format_is_computed_from_the_served_float_vectors(server, embedder):
    full = embedder.encode(TEXTS)
    floats = prefix(full, 16)
    bits = np.packbits(floats > 0, axis=1)
    bound = min(1.0, 8 / np.sqrt(16))  # the server's fixed int8 range (docs/serving.md)
    codes = np.clip(np.rint((floats + bound) / (2 * bound / 255)) - 128, -128, 127)
    got = {}
    for fmt in ("int8", "uint8", "binary", "ubinary"):
        response = post(server, {"input": TEXTS, "encoding_format": fmt, "dimensions": 16})
        assert response.status_code == 200, response.text
        got[fmt] = np.array([d["embedding"] for d in response.json()["data"]])
    np.testing.assert_array_equal(got["ubinary"], bits)
    np.testing.assert_array_equal(got["binary"], bits.astype(int) - 128)
    assert np.abs(got["int8"] - codes).max() <= 1  # float32 vs float64 rounding at a bucket edge
    np.testing.assert_array_equal(got["uint8"], got["int8"] + 128)

    body = {"input": TEXTS, "embedding_types": ["float", "ubinary", "int8"], "dimensions": 16}
    data = post(server, body).json()["data"]
    assert all("embedding" not in d for d in data)
    np.testing.assert_allclose(np.array([d["embeddings"]["float"] for d in data]), floats, atol=1e-6)
    np.testing.assert_array_equal(np.array([d["embeddings"]["ubinary"] for d in data]), bits)
    np.testing.assert_array_equal(np.array([d["embeddings"]["int8"] for d in data]), got["int8"])
    data = post(server, {**body, "encoding_format": "base64"}).json()["data"]
    assert base64.b64decode(data[0]["embeddings"]["ubinary"]) == bits[0].tobytes()
    np.testing.assert_allclose(
        np.frombuffer(base64.b64decode(data[1]["embeddings"]["float"]), "<f4"), floats[1], atol=1e-6
    )


def test_bad_format_requests_are_400s_naming_the_field(server):
    mixed = post(server, {"input": "x", "embedding_types": ["int8"], "encoding_format": "binary"})
    assert mixed.status_code == 400 and mixed.json()["error"]["param"] == "encoding_format"
    unknown = post(server, {"input": "x", "embedding_types": ["int4"]})
    assert unknown.status_code == 400 and "embedding_types" in unknown.text


def test_dimensions_must_be_a_trained_prefix_unless_allowed(embedder):
    from mme5.serving import ServerSettings, create_app

    trained = ServerSettings(model_name="tiny", trained_dims=(8, 16, embedder.dim))
    with running_server(create_app(embedder, trained)) as url:
        assert post(url, {"input": "x", "dimensions": 8}).status_code == 200
        refused = post(url, {"input": "x", "dimensions": 12})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "dimensions"
        assert "trained for 8, 16" in refused.json()["error"]["message"]
        assert "--allow-untrained-dims" in refused.json()["error"]["message"]
    allowed = ServerSettings(model_name="tiny", trained_dims=(8, embedder.dim), allow_untrained_dims=True)
    with running_server(create_app(embedder, allowed)) as url:
        assert len(post(url, {"input": "x", "dimensions": 12}).json()["data"][0]["embedding"]) == 12
        assert post(url, {"input": "x", "dimensions": embedder.dim + 1}).status_code == 400
