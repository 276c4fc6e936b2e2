"""Prompts are part of the model and of the index (issue 18 item 1): index.json records the model
and the instructions; a search with no --model and no instruction ranks exactly as an explicit
query with the recorded instruction, on the CLI, the server and the Python API."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mme5 import prompts as P
from mme5.index.search import VectorIndex, describe_item
from mme5.types import InputError, Item

QUERY = "a red page"
ASSETS = Path(P.__file__).parent / "assets"  # the packaged cat / dog pictures


def _mixed_folder(root):
    """Two images, a two-page PDF and a video file: every kind a folder corpus holds."""
    root.mkdir()
    for name in ("cat.png", "dog.png"):
        shutil.copy(ASSETS / name, root / name)
    pages = [Image.new("RGB", (80, 100), c) for c in [(200, 30, 30), (30, 200, 30)]]
    pages[0].save(root / "doc.pdf", save_all=True, append_images=pages[1:], resolution=72)
    import av

    frames = [Image.new("RGB", (40, 30), (20 * k, 60, 90)) for k in range(4)]
    with av.open(str(root / "clip.mkv"), "w") as video:
        stream = video.add_stream("ffv1", rate=4)
        stream.width, stream.height, stream.pix_fmt = 40, 30, "yuv444p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                video.mux(packet)
        for packet in stream.encode():
            video.mux(packet)
    return root


@pytest.fixture(scope="module")
def built(tiny_dirs, tmp_path_factory):
    """(corpus folder, index folder) built by `mme5 index build` with the tiny Mllama."""
    from mme5.cli.main import main

    tmp = tmp_path_factory.mktemp("prompted")
    corpus = _mixed_folder(tmp / "corpus")
    out = tmp / "index"
    assert main(["index", "build", "--input", str(corpus), "--output", str(out),
                 "--model", str(tiny_dirs("mllama")), "--shard-size", "4"]) == 0
    return corpus, out


@pytest.fixture(scope="module")
def embedder(tiny_embedder):
    return tiny_embedder("mllama")


def _bare(embedder, text, instruction):
    return embedder.encode([Item(text=text, instruction=instruction)])[0]


def _ranking(index, query_vector, k):
    scores = index.faiss_index.reconstruct_n(0, len(index)) @ query_vector
    order = np.argsort(-scores, kind="stable")[:k]
    return [index.records[i]["id"] for i in order], scores[order]


def _printed(capsys):
    lines = [line.split() for line in capsys.readouterr().out.strip().splitlines()]
    return [line[2] for line in lines], np.array([float(line[1]) for line in lines]), lines


def test_index_json_records_the_model_and_the_instructions(built, tiny_dirs, embedder):
    corpus, out = built
    info = json.loads((out / "index.json").read_text())
    model = info["model"]
    assert model["path"] == str(tiny_dirs("mllama").resolve()) and model["fingerprint"] == embedder.fingerprint
    assert (model["backbone"], model["profile"], model["dim"]) == ("mllama", "mme5", embedder.dim)
    assert model["dtype"] == "float32" and model["max_length"] == 256 and model["adapter"] is None
    prompts = info["prompts"]
    assert prompts["query"] == P.FIND_IMAGE_FOR_CAPTION  # mixed kinds: the model's `query` prompt
    assert prompts["document"] == {"image": P.REPRESENT_IMAGE, "pdf": P.V2_VISDOC_PAGE, "video": P.V2_VIDEO_TARGET}
    # each record holds the instruction it was embedded with, and its vector is exactly that item's
    index = VectorIndex.load(out)
    records = [index.records[i] for i in range(len(index))]
    assert [r["id"] for r in records] == ["cat.png", "clip.mkv", "doc.pdf#page=1", "doc.pdf#page=2", "dog.png"]
    assert records[2]["item"] == {"pdf": "doc.pdf", "page": 1, "instruction": P.V2_VISDOC_PAGE}
    want = embedder.encode([
        Item(image=corpus / "cat.png", instruction=P.REPRESENT_IMAGE),
        Item(video=corpus / "clip.mkv", instruction=P.V2_VIDEO_TARGET),
        Item(pdf=corpus / "doc.pdf", page=1, instruction=P.V2_VISDOC_PAGE),
        Item(pdf=corpus / "doc.pdf", page=2, instruction=P.V2_VISDOC_PAGE),
        Item(image=corpus / "dog.png", instruction=P.REPRESENT_IMAGE),
    ])
    np.testing.assert_allclose(index.faiss_index.reconstruct_n(0, len(index)), want, atol=1e-5)
    bare = embedder.encode([Item(image=corpus / "cat.png")])[0]
    assert np.abs(bare - want[0]).max() > 1e-3  # the instruction really changed the vector


def test_cli_search_without_model_or_instruction_uses_the_recorded_ones(built, tiny_dirs, embedder, capsys):
    from mme5.cli.main import main

    _, out = built
    index = VectorIndex.load(out)
    assert main(["index", "search", str(out), "--text", QUERY, "--top-k", "5"]) == 0
    ids, scores, lines = _printed(capsys)
    want_ids, want_scores = _ranking(index, _bare(embedder, QUERY, index.query_instruction), 5)
    assert ids == want_ids
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)
    explicit = ["--instruction", index.query_instruction, "--model", str(tiny_dirs("mllama"))]
    assert main(["index", "search", str(out), "--text", QUERY, "--top-k", "5", *explicit]) == 0
    assert _printed(capsys)[2] == lines
    assert main(["index", "search", str(out), "--text", QUERY, "--top-k", "5", "--instruction", ""]) == 0
    ids, scores, _ = _printed(capsys)
    want_ids, want_scores = _ranking(index, _bare(embedder, QUERY, None), 5)
    assert ids == want_ids
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)


def test_hits_say_what_they_are(built, capsys):
    from mme5.cli.main import main

    _, out = built
    assert main(["index", "search", str(out), "--text", QUERY, "--top-k", "5"]) == 0
    shown = {line.split()[2]: line for line in capsys.readouterr().out.strip().splitlines()}
    assert "doc.pdf page 2" in shown["doc.pdf#page=2"] and "clip.mkv" in shown["clip.mkv"].split("  ", 3)[-1]
    assert not any(" None" in line for line in shown.values())
    assert describe_item({"video": ["f1.png", "f2.png", "f3.png"]}) == "f1.png .. f3.png (3 frames)"
    assert describe_item({"pdf": "a.pdf", "page": 3, "instruction": "X"}) == "a.pdf page 3  [X]"
    assert describe_item({"image": "c.png", "text": "a cat"}) == "c.png  'a cat'"
    assert describe_item({"text": "plain"}) == "plain"


def test_server_search_uses_the_recorded_instruction(built, embedder):
    from fastapi.testclient import TestClient

    from mme5.serving import create_app

    _, out = built
    index = VectorIndex.load(out)
    with TestClient(create_app(embedder, index=index)) as client:
        def hits(query):
            response = client.post("/v1/search", json={"query": query, "top_k": 5})
            assert response.status_code == 200, response.text
            return [h["id"] for h in response.json()["data"]], np.array([h["score"] for h in response.json()["data"]])

        plain = hits(QUERY)
        explicit = hits({"text": QUERY, "instruction": index.query_instruction})
        absent = hits({"text": QUERY})
        assert plain[0] == explicit[0] == absent[0]
        np.testing.assert_allclose(plain[1], explicit[1], atol=1e-6)
        want_ids, want_scores = _ranking(index, _bare(embedder, QUERY, index.query_instruction), 5)
        assert plain[0] == want_ids
        np.testing.assert_allclose(plain[1], want_scores, atol=1e-5)
        opted_out = hits({"text": QUERY, "instruction": None})
        want_ids, want_scores = _ranking(index, _bare(embedder, QUERY, None), 5)
        assert opted_out[0] == want_ids
        np.testing.assert_allclose(opted_out[1], want_scores, atol=1e-5)


def test_python_api_embeds_queries_as_the_index_says(built, embedder):
    _, out = built
    index = VectorIndex.load(out)
    recorded = index.search_items(embedder, [QUERY, Item(text=QUERY, instruction=P.V2_VISDOC_QUERY)], 5)
    explicit = index.search(embedder.encode([Item(text=QUERY, instruction=index.query_instruction),
                                             Item(text=QUERY, instruction=P.V2_VISDOC_QUERY)]), 5)
    assert [[h.index for h in r] for r in recorded] == [[h.index for h in r] for r in explicit]
    none = index.search_items(embedder, [QUERY], 5, instruction=None)[0]
    assert [h.index for h in none] == [h.index for h in index.search(embedder.encode([Item(text=QUERY)]), 5)[0]]
    assert index.model_spec().model == index.info["model"]["path"]


def test_serve_index_loads_the_recorded_model_and_a_mismatch_says_pass_model(built, tiny_dirs, tiny_embedder):
    from mme5.cli.index import load_for_index
    from mme5.cli.main import build_parser
    from mme5.serving import create_app

    _, out = built
    index = VectorIndex.load(out)
    args = build_parser().parse_args(["serve", "--index", str(out)])
    assert load_for_index(index, args).fingerprint == index.fingerprint
    other = str(tiny_dirs("qwen2_vl"))
    args = build_parser().parse_args(["serve", "--index", str(out), "--model", other])
    with pytest.raises(InputError, match=f"pass --model {tiny_dirs('mllama').resolve()}"):
        load_for_index(index, args)
    with pytest.raises(InputError, match="pass --model .*or leave out --model"):
        create_app(tiny_embedder("qwen2_vl"), index=index)


def test_jsonl_rows_keep_their_own_instruction(tmp_path, embedder):
    from mme5.index.build import build_index

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "one", "instruction": "Say it:"}) + "\n" + json.dumps({"text": "two"}) + "\n")
    index = build_index(embedder, corpus, tmp_path / "index")
    assert index.info["prompts"]["document"] == {} and index.query_instruction == P.FIND_IMAGE_FOR_CAPTION
    assert [index.records[i]["item"] for i in range(2)] == [{"text": "one", "instruction": "Say it:"}, {"text": "two"}]
    np.testing.assert_allclose(index.faiss_index.reconstruct_n(0, 2),
                               embedder.encode([Item(text="one", instruction="Say it:"), Item(text="two")]), atol=1e-5)
    with pytest.raises(InputError, match="does not record which model built it"):
        index.model_spec()  # a loaded model with no name: the caller must say which


def test_one_kind_folder_gets_that_kinds_query_prompt(tmp_path, embedder):
    from mme5.index.build import build_index

    docs = tmp_path / "docs"
    docs.mkdir()
    Image.new("RGB", (60, 80), (9, 9, 9)).save(docs / "a.pdf", resolution=72)
    index = build_index(embedder, docs, tmp_path / "index", model="")
    assert index.query_instruction == P.V2_VISDOC_QUERY and index.info["prompts"]["query_prompt"] == "visdoc_query"
    assert index.info["prompts"]["document"] == {"pdf": P.V2_VISDOC_PAGE}


def test_an_index_from_before_the_model_record_still_names_its_model():
    from mme5.index.model import spec_from_record

    assert spec_from_record({"name": "mme5-tiny", "fingerprint": "f"}, "old").model is None
    assert spec_from_record({"name": "runs/mine", "fingerprint": "f"}, "old").model == "runs/mine"
    with pytest.raises(InputError, match="pass --model"):
        spec_from_record({"name": "", "fingerprint": "f"}, "old")
