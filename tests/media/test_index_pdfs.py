"""`mme5 index build` over a folder of PDFs (and videos): one record and vector per page."""
from __future__ import annotations

import numpy as np
from PIL import Image

from mme5 import prompts as P
from mme5.types import Item


def _pdf(path, colors) -> None:
    pages = [Image.new("RGB", (80, 100), c) for c in colors]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=72)


def test_folder_of_pdfs_is_indexed_page_by_page(tiny_dirs, tiny_embedder, tmp_path, capsys) -> None:
    import pypdfium2 as pdfium

    from mme5.cli.main import main
    from mme5.index.search import VectorIndex

    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    _pdf(docs / "a.pdf", [(200, 30, 30), (30, 200, 30)])
    _pdf(docs / "sub" / "b.pdf", [(30, 30, 200), (200, 200, 30), (90, 90, 90)])
    Image.new("RGB", (50, 50), (10, 120, 200)).save(docs / "c.png")
    frames = [Image.new("RGB", (40, 30), (20 * k, 60, 90)) for k in range(4)]
    for k, f in enumerate(frames):  # single images here; a video is a file
        (docs / "clip").mkdir(exist_ok=True)
        f.save(docs / "clip" / f"{k}.jpg")
    import av

    with av.open(str(docs / "d.mkv"), "w") as video:
        stream = video.add_stream("ffv1", rate=4)
        stream.width, stream.height, stream.pix_fmt = 40, 30, "yuv444p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_image(f)):
                video.mux(packet)
        for packet in stream.encode():
            video.mux(packet)
    out = tmp_path / "index"
    assert main(["index", "build", "--input", str(docs), "--output", str(out), "--model", str(tiny_dirs("qwen2_vl")),
                 "--shard-size", "2"]) == 0
    index = VectorIndex.load(out)
    ids = [index.records[i]["id"] for i in range(len(index))]
    assert ids == ["a.pdf#page=1", "a.pdf#page=2", "c.png", "clip/0.jpg", "clip/1.jpg", "clip/2.jpg", "clip/3.jpg",
                   "d.mkv", "sub/b.pdf#page=1", "sub/b.pdf#page=2", "sub/b.pdf#page=3"]
    page, video = P.V2_VISDOC_PAGE, P.V2_VIDEO_TARGET  # each kind's document prompt (index.json prompts.document)
    assert index.records[9]["item"] == {"pdf": "sub/b.pdf", "page": 2, "instruction": page}
    assert index.records[7]["item"] == {"video": "d.mkv", "instruction": video}
    # independent: render the pages with pypdfium2 here and encode them as images
    emb = tiny_embedder("qwen2_vl")

    def pages(path):
        doc = pdfium.PdfDocument(str(path))
        return [doc[k].render(scale=2).to_pil().convert("RGB") for k in range(len(doc))]

    want = emb.encode([Item(image=p, instruction=page) for p in pages(docs / "a.pdf")]
                      + [Item(image=p, instruction=page) for p in pages(docs / "sub" / "b.pdf")])
    vectors = index.faiss_index.reconstruct_n(0, len(index))
    np.testing.assert_allclose(vectors[[0, 1, 8, 9, 10]], want, atol=1e-5)
    hits = index.search(want[3:4], 1)[0]
    assert index.records[hits[0].index]["id"] == "sub/b.pdf#page=2"
    np.testing.assert_allclose(vectors[7], emb.encode([Item(video=docs / "d.mkv", instruction=video)])[0], atol=1e-5)
