"""Hostile media, every class generated here (tests/media/hostile.py), refused with one line naming
the limit, in bounded time and memory, by mme5.media itself, `mme5 embed`, `mme5 index build` and
the server (which keeps answering); mixed-size frames reach Qwen2-VL and Qwen3-VL at one size."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mme5 import media
from mme5.cli.main import main
from mme5.media_policy import LimitError, MediaPolicy
from mme5.types import InputError, Item

from . import hostile

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One file per hostile class, and what its refusal must say."""
    root = tmp_path_factory.mktemp("hostile")
    made = {
        "lying.mkv": hostile.header_lying_video(),  # header 64x64, last frames 6000x6000
        "long.ts": hostile.long_video(12_600, 2896),  # the reported 12,600-frame 2896x2896 clip
        "giant.pdf": hostile.giant_page_pdf(),  # one 14400 x 14400 pt page
        "tree.pdf": hostile.broken_page_tree_pdf(),  # a page tree that loops
        "truncated.pdf": hostile.truncated_pdf(),
    }
    for name, data in made.items():
        (root / name).write_bytes(data)
    return {name: root / name for name in made}


EXPECTED = {  # file -> (words the one-line message must hold, HTTP status)
    "lying.mkv": ("is 6000x6000 = 36000000 pixels; the limit is 16777216 (max_image_pixels)", 413),
    "long.ts": ("the video has more than 10000 frames; the limit is 10000 (max_frames)", 413),
    "giant.pdf": ("page 1 is 14400x14400 pt = 207360000 square points; the limit is 4194304 (max_page_area)", 413),
    "tree.pdf": ("page 2 of PDF", 400),
    "truncated.pdf": ("cannot open PDF", 400),
}


def _read(path: Path, policy: MediaPolicy | None = None) -> object:
    policy = policy or MediaPolicy()
    if path.suffix == ".pdf":
        return media.render_pages(path, "row 1", policy=policy)
    return media.load_frames(path, "row 1", policy=policy)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_media_refuses_each_hostile_file_fast(files, name) -> None:
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        _read(files[name])
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith("row 1: ") and EXPECTED[name][0] in message and "\n" not in message
    assert isinstance(caught.value, LimitError) == (EXPECTED[name][1] == 413)


def test_single_gop_video_stops_at_its_decode_budget() -> None:
    """9,000 frames in ONE group of pictures: the wanted last frames need every frame before them
    decoded at 2896x2896 (74 G pixels); decoding stops at the default budget instead."""
    data = hostile.long_video(9_000, 2896)
    started = time.monotonic()
    with pytest.raises(LimitError, match=r"\((max_decoded_pixels|max_decode_seconds)\)") as caught:
        media.load_frames(data, "clip")
    assert time.monotonic() - started < 5 + 1  # the 4 s default budget, with a frame of slack
    # the same video, short enough, decodes: the budget is not a refusal of the format
    small = media.load_frames(hostile.long_video(40, 64), "clip")
    assert len(small) == 8 and {f.size for f in small} == {(64, 64)}
    # and a policy's frame budget is what it says
    with pytest.raises(LimitError, match=r"decoding needs more than \d+ pixels; the limit is 100000 \(max_decoded_pixels\)"):
        media.load_frames(hostile.long_video(40, 64), "clip", policy=MediaPolicy(max_decoded_pixels=100_000))
    assert "clip: " in str(caught.value)


def test_peak_memory_stays_bounded(files) -> None:
    """All hostile files read in a fresh process: its peak RSS stays under 1 GB. Measured as the
    process's own VmHWM: `ru_maxrss` keeps the forking pytest's high-water mark across exec."""
    code = (
        "import sys\n"
        "from mme5 import media\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        media.render_pages(p) if p.endswith('.pdf') else media.load_frames(p)\n"
        "    except ValueError:\n"
        "        pass\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *map(str, files.values())], capture_output=True, text=True,
                         check=True, timeout=120)
    peak_kib = int(out.stdout.split()[-1])
    assert peak_kib < 1024 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"


def test_mixed_size_frames_are_resized_to_the_first(tmp_path) -> None:
    hostile.mixed_size_frames(tmp_path / "clip")
    frames = media.load_frames(tmp_path / "clip")
    assert [f.size for f in frames] == [(640, 480)] * 6
    by_hand = Image.open(tmp_path / "clip" / "frame_1.png").convert("RGB").resize((640, 480), Image.Resampling.BICUBIC)
    assert np.array_equal(np.asarray(frames[1]), np.asarray(by_hand))
    listed = media.load_frames([tmp_path / "clip" / f"frame_{k}.png" for k in range(6)])
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(frames, listed))


@pytest.mark.parametrize("backbone", ["qwen2_vl", "qwen3_vl"])
def test_mixed_size_frames_encode_on_qwen(tiny_embedder, tmp_path, backbone) -> None:
    """A folder of 640x480 and 480x640 frames encodes (it crashed the processors) and equals the same
    frames resized by hand to the first frame's size."""
    hostile.mixed_size_frames(tmp_path / "clip", n=4)
    embedder = tiny_embedder(backbone)
    folder = embedder.encode([Item(video=str(tmp_path / "clip"), text="what happens")])
    first = Image.open(tmp_path / "clip" / "frame_0.png").convert("RGB")
    resized = [Image.open(tmp_path / "clip" / f"frame_{k}.png").convert("RGB").resize(first.size, Image.Resampling.BICUBIC)
               for k in range(4)]
    by_hand = embedder.encode([Item(video=resized, text="what happens")])
    np.testing.assert_array_equal(folder, by_hand)


# ---- the surfaces ------------------------------------------------------------------------------
def _errors(err: str) -> list[str]:
    """The error lines of a command's stderr (model-loading progress bars aside)."""
    return [line for line in err.splitlines() if ": error: " in line]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_embed_cli_exits_2_with_the_message(tiny_dirs, files, tmp_path, capsys, name) -> None:
    flag = "--pdf" if name.endswith(".pdf") else "--video"
    started = time.monotonic()
    code = main(["embed", "--model", str(tiny_dirs("qwen2_vl")), flag, str(files[name]), "--output", str(tmp_path / "o.npy")])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and f"{flag} #1" in err and EXPECTED[name][0] in err, err
    assert len(_errors(err)) == 1 and elapsed < 5 + 10  # 5 s for the media, 10 s to load the tiny model


def _pages_pdf(path: Path) -> None:
    """Three pages: 200x100 pt, a giant one, 150x150 pt."""
    path.write_bytes(hostile.pdf_with_pages([(200, 100), (14400, 14400), (150, 150)]))


def test_embed_cli_bad_page_keeps_the_pages_before_and_skip_bad(tiny_dirs, tmp_path, capsys) -> None:
    model = str(tiny_dirs("qwen2_vl"))
    _pages_pdf(tmp_path / "doc.pdf")
    out = tmp_path / "o.npy"
    assert main(["embed", "--model", model, "--pdf", str(tmp_path / "doc.pdf"), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--pdf #1 page 2: page 2 is 14400x14400 pt" in err and "the 1 rows before it are saved" in err
    assert not out.exists()
    partial = np.load(tmp_path / "o.partial.npy")
    assert main(["embed", "--model", model, "--pdf", str(tmp_path / "doc.pdf"), "--output", str(out), "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert "skipped: --pdf #1 page 2: page 2 is 14400x14400 pt" in captured.err
    vecs = np.load(out)
    rows = [json.loads(line) for line in (tmp_path / "o.rows.jsonl").read_text().splitlines()]
    assert [(r["row"], r["page"]) for r in rows] == [(0, 1), (1, 3)] and vecs.shape[0] == 2
    np.testing.assert_array_equal(partial, vecs[:1])  # the page saved before the stop is the same vector
    # --media-limit raises the limit: the giant page is then refused by the pixel limit, not the area
    assert main(["embed", "--model", model, "--pdf", str(tmp_path / "doc.pdf"), "--output", str(out),
                 "--media-limit", "max_page_area=3e8"]) == 2
    assert "page 2 at 144 dpi is 28800x28800" in capsys.readouterr().err
    assert main(["embed", "--model", model, "--text", "x", "--output", str(out), "--media-limit", "max_fames=3"]) == 2
    assert "--media-limit 'max_fames=3': expected NAME=VALUE" in capsys.readouterr().err


def test_index_build_exits_2_with_the_message(tiny_dirs, files, tmp_path, capsys) -> None:
    for name in ("lying.mkv", "long.ts", "giant.pdf", "tree.pdf", "truncated.pdf"):
        corpus = tmp_path / f"corpus_{name}"
        corpus.mkdir()
        Image.new("RGB", (32, 32), (200, 10, 10)).save(corpus / "a.png")
        # a folder corpus takes .mp4 .mkv .webm .avi .mov videos; FFmpeg reads the MPEG-TS by its content
        (corpus / name.replace(".ts", ".mp4")).write_bytes(files[name].read_bytes())
        started = time.monotonic()
        code = main(["index", "build", "--input", str(corpus), "--output", str(tmp_path / f"index_{name}"),
                     "--model", str(tiny_dirs("qwen2_vl"))])
        err = capsys.readouterr().err
        assert code == 2 and EXPECTED[name][0] in err and len(_errors(err)) == 1, err
        assert time.monotonic() - started < 5 + 10


def test_server_answers_4xx_fast_and_keeps_answering(tiny_embedder, files, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from mme5.index.build import build_index
    from mme5.serving import ServerSettings, create_app

    embedder = tiny_embedder("qwen2_vl")
    (tmp_path / "corpus").mkdir()
    for k in range(3):
        Image.new("RGB", (32, 32), (80 * k, 10, 10)).save(tmp_path / "corpus" / f"{k}.png")
    index = build_index(embedder, tmp_path / "corpus", tmp_path / "index")
    app = create_app(embedder, ServerSettings(model_name="tiny", max_request_pixels=1 << 40), index)
    mime = {".mkv": "video/x-matroska", ".ts": "video/mp2t", ".pdf": "application/pdf"}
    with TestClient(app) as client:
        for name, (needle, status) in EXPECTED.items():
            field = "pdf" if name.endswith(".pdf") else "video"
            started = time.monotonic()
            url = f"data:{mime[files[name].suffix]};base64,{base64.b64encode(files[name].read_bytes()).decode()}"
            response = client.post("/v1/embeddings", json={"input": [{field: url}]})
            assert time.monotonic() - started < 5, name
            assert response.status_code == status, response.text
            error = response.json()["error"]
            assert error["param"] == f"input[0].{field}" and error["message"].startswith(f"input[0].{field}: ")
            assert needle in error["message"] and "image path" not in error["message"]
            if field == "pdf":  # a search query goes through the same checks (it answered 500 before)
                response = client.post("/v1/search", json={"query": {"pdf": url}})
                assert response.status_code == status and needle in response.json()["error"]["message"], response.text
                assert response.json()["error"]["param"] == "query.pdf"
        ok = client.post("/v1/embeddings", json={"input": "still answering"})
        assert ok.status_code == 200 and len(ok.json()["data"]) == 1
        assert client.post("/v1/search", json={"query": "still answering"}).status_code == 200


def test_index_build_skip_bad_leaves_out_bad_items_and_keeps_the_rest(tiny_dirs, tiny_embedder, files, tmp_path,
                                                                      capsys) -> None:
    from mme5.index.search import VectorIndex

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(corpus / "a.png")
    Image.new("RGB", (40, 28), (10, 200, 10)).save(corpus / "b.png")
    _pages_pdf(corpus / "doc.pdf")  # page 2 is giant
    (corpus / "lying.mkv").write_bytes(files["lying.mkv"].read_bytes())
    model = str(tiny_dirs("qwen2_vl"))
    args = ["index", "build", "--input", str(corpus), "--output", str(tmp_path / "index"), "--model", model]
    assert main(args + ["--skip-bad", "--sink", "lance"]) == 2
    assert "--skip-bad works with --sink faiss only" in capsys.readouterr().err
    assert main(args + ["--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "corpus: item 3 (doc.pdf#page=2): page 2 is 14400x14400 pt" in err
    assert "corpus: item 5 (lying.mkv): frame 7 is 6000x6000" in err
    index = VectorIndex.load(tmp_path / "index")
    ids = [index.records[i]["id"] for i in range(len(index))]
    assert ids == ["a.png", "b.png", "doc.pdf#page=1", "doc.pdf#page=3"]
    assert [s["row"] for s in index.info["engine"]["skipped"]] == [3, 5]
    document = index.info["prompts"]["document"]  # folder items carry the model's document prompt per kind
    image, page = document.get("image"), document.get("pdf")
    expected = tiny_embedder("qwen2_vl").encode([Item(image=str(corpus / "a.png"), instruction=image),
                                                 Item(image=str(corpus / "b.png"), instruction=image),
                                                 Item(pdf=str(corpus / "doc.pdf"), page=1, instruction=page),
                                                 Item(pdf=str(corpus / "doc.pdf"), page=3, instruction=page)])
    np.testing.assert_allclose(index.faiss_index.reconstruct_n(0, 4), expected, atol=1e-5)
    top = index.search(expected[3:4], 1)[0][0]
    assert index.records[top.index]["id"] == "doc.pdf#page=3"


def test_reranker_refuses_hostile_media_in_python_and_over_http(files, tiny_embedder, tmp_path) -> None:
    """The reranker reads pairs under the same policy: `score` raises the one-line message, and
    `/v1/rerank` answers the same 4xx naming `documents[0].<field>`, then keeps answering."""
    from fastapi.testclient import TestClient

    from mme5.model.reranker import Reranker
    from mme5.model.tiny import build_tiny
    from mme5.serving import ServerSettings, create_app
    from mme5.serving.rerank import RerankService

    reranker = Reranker.from_pretrained(build_tiny("qwen3_vl", tmp_path / "rr", reranker=True), device="cpu")
    for name, (needle, _) in EXPECTED.items():
        field = "pdf" if name.endswith(".pdf") else "video"
        started = time.monotonic()
        with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")) as caught:
            page = {"page": 2 if name == "tree.pdf" else 1} if field == "pdf" else {}
            reranker.score("a query", ["fine text", Item(**{field: str(files[name])}, **page)])
        assert time.monotonic() - started < 5 and "\n" not in str(caught.value), name
    app = create_app(
        tiny_embedder("qwen2_vl"),
        ServerSettings(model_name="tiny", max_request_pixels=1 << 40),
        reranker=RerankService(reranker, "rr"),
    )
    mime = {".mkv": "video/x-matroska", ".ts": "video/mp2t", ".pdf": "application/pdf"}
    with TestClient(app) as client:
        for name, (needle, status) in EXPECTED.items():
            field = "pdf" if name.endswith(".pdf") else "video"
            url = f"data:{mime[files[name].suffix]};base64,{base64.b64encode(files[name].read_bytes()).decode()}"
            started = time.monotonic()
            page = {"page": 2 if name == "tree.pdf" else 1} if field == "pdf" else {}
            response = client.post("/v1/rerank", json={"query": "q", "documents": [{field: url, **page}, "fine text"]})
            assert time.monotonic() - started < 5, name
            assert response.status_code == status, (name, response.text)
            error = response.json()["error"]
            assert error["param"] == f"documents[0].{field}" and needle in error["message"], error
        ok = client.post("/v1/rerank", json={"query": "still answering", "documents": ["a", "b"]})
        assert ok.status_code == 200 and len(ok.json()["results"]) == 2
