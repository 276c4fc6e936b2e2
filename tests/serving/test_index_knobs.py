"""POST /v1/search over an approximate index: the server's nprobe is the default, a request's nprobe
overrides it (all lists = exact search), a knob of another index family is a 400."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from mme5.index.build import IndexOptions, build_index
from mme5.types import Item

from .conftest import running_server


@pytest.fixture(scope="module")
def ivf_index(emoji_dir, embedder, tmp_path_factory):
    rows = [json.loads(line) for line in (emoji_dir / "emoji.jsonl").read_text(encoding="utf-8").splitlines()[:200]]
    corpus = tmp_path_factory.mktemp("knobs") / "names.jsonl"
    corpus.write_text("".join(json.dumps({"text": r["name"][lang], "id": f"{r['id']}/{lang}"}, ensure_ascii=False) + "\n"
                              for r in rows for lang in ("en", "de") if lang in r["name"]), encoding="utf-8")
    return build_index(embedder, corpus, corpus.parent / "index", index=IndexOptions(kind="ivf-flat"))


def test_search_knobs_per_server_and_per_request(ivf_index, embedder):
    from mme5.serving import ServerSettings, create_app

    nlist = ivf_index.info["index"]["params"]["nlist"]
    assert nlist > 1
    vectors = ivf_index.faiss_index.reconstruct_n(0, len(ivf_index))
    def rankings(text: str):
        query = embedder.encode([Item(text=text, instruction=ivf_index.query_instruction)])  # as /v1/search does
        exact = np.argsort(-(vectors @ query[0]), kind="stable")[:10].tolist()
        return query, exact, [h.index for h in ivf_index.search(query, 10, nprobe=1)[0]]

    # a query whose neighbours span several lists, so that the settings give different answers
    text, (query, exact, one_list) = next((t, r) for t in ("a smiling face", "Flagge", "red fruit", "two hearts",
                                                           "Uhr", "building", "cat face", "Mond")
                                          if (r := rankings(t))[1] != r[2])
    with running_server(create_app(embedder, ServerSettings(model_name="tiny", nprobe=1), ivf_index)) as url:
        def ranked(**extra) -> httpx.Response:
            return httpx.post(f"{url}/v1/search", json={"query": text, "top_k": 10, **extra}, timeout=30)

        assert [h["index"] for h in ranked().json()["data"]] == one_list
        full = ranked(nprobe=nlist).json()["data"]
        assert [h["index"] for h in full] == exact
        np.testing.assert_allclose([h["score"] for h in full], vectors[exact] @ query[0], atol=1e-5)
        wrong = ranked(ef_search=64)
        assert wrong.status_code == 400 and "ef_search does not apply" in wrong.json()["error"]["message"]
        assert ranked(nprobe=0).status_code == 400
