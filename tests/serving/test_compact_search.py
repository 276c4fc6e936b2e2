"""`mme5 index build --dim --quantize binary` + /v1/search: a shortlist covering the corpus gives
the brute-force float ranking and exact cosines, through the CLI and the server."""

from __future__ import annotations

import json

import httpx
import numpy as np

from mme5.index.search import VectorIndex
from mme5.types import Item

from .conftest import running_server
from .test_index import brute_force, corpus  # noqa: F401  (the fixture)


def test_cli_compact_build_then_search_equals_brute_force(corpus, tmp_path, tiny_dirs, embedder, capsys):  # noqa: F811
    from mme5.cli.main import main
    from mme5.serving import ServerSettings, create_app

    out = tmp_path / "index"
    flags = ["--dim", "16", "--quantize", "binary", "--rescore-factor", "2", "--shard-size", "4"]
    assert (
        main(
            [
                "index",
                "build",
                "--input",
                str(corpus),
                "--output",
                str(out),
                "--model",
                str(tiny_dirs("mllama")),
                *flags,
            ]
        )
        == 0
    )
    assert "compact flat (BFlat, rescore_factor=2)" in capsys.readouterr().out
    info = json.loads((out / "index.json").read_text())["index"]
    assert info["params"]["dim"] == 16 and info["bytes"] < 9 * 1024  # 2 bytes of codes per vector + header
    index = VectorIndex.load(out)
    vectors = np.load(out / "rescore.npy")
    query = embedder.encode([Item(text="topic 1")])
    order, scores = brute_force(query[0], vectors, 9)  # k x 2 >= the 9 items: the whole corpus is rescored
    hits = index.search(query, 9)[0]
    assert [h.index for h in hits] == order.tolist()
    np.testing.assert_allclose([h.score for h in hits], scores, atol=1e-5)
    with running_server(create_app(embedder, ServerSettings(model_name="tiny"), index)) as url:
        response = httpx.post(
            f"{url}/v1/search", json={"query": {"text": "topic 1", "instruction": None}, "top_k": 5}, timeout=60
        )
        assert response.status_code == 200, response.text
        found = response.json()["data"]
    assert [h["index"] for h in found] == order[:5].tolist()
