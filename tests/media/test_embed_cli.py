"""`mme5 embed` with videos and PDFs: one row per PDF page and a row -> (input, page) map."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from mme5 import Embedder
from mme5.cli.main import main
from mme5.types import Item


def _pdf(path, n: int) -> None:
    pages = [Image.new("RGB", (120, 160), (40 * k, 200 - 40 * k, 90)) for k in range(n)]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=72)


def _rendered(path) -> list[Image.Image]:
    """Pages rendered by pypdfium2 directly, at the documented 144 dpi (scale 2)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    return [doc[k].render(scale=2).to_pil().convert("RGB") for k in range(len(doc))]


def test_embed_pdf_and_video_flags(tiny_dirs, tmp_path, capsys) -> None:
    model = tiny_dirs("qwen2_vl")
    _pdf(tmp_path / "doc.pdf", 3)
    frames = tmp_path / "clip"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for k in range(10):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(frames / f"{k}.png")
    out = tmp_path / "v.npy"
    assert main(["embed", "--model", str(model), "--text", "hello", "--pdf", str(tmp_path / "doc.pdf"),
                 "--video", str(frames), "--instruction", "Represent it.", "--output", str(out)]) == 0
    vecs = np.load(out)
    rows = [json.loads(line) for line in (tmp_path / "v.rows.jsonl").read_text().splitlines()]
    # inputs in flag order: texts, images, videos, PDFs
    assert [(r["row"], r["input"], r["page"]) for r in rows] == [(0, 0, None), (1, 1, None), (2, 2, 1), (3, 2, 2), (4, 2, 3)]
    assert rows[2]["where"] == "--pdf #1" and rows[1]["where"] == "--video #1" and vecs.shape[0] == 5
    emb = Embedder.from_pretrained(model, device="cpu")
    pages = _rendered(tmp_path / "doc.pdf")
    want = emb.encode([Item(text="hello", instruction="Represent it."),
                       Item(video=sorted(frames.iterdir(), key=lambda p: int(p.stem)), instruction="Represent it.")]
                      + [Item(image=p, instruction="Represent it.") for p in pages])
    np.testing.assert_allclose(vecs, want, atol=1e-5)
    assert "3 rows are PDF pages" in capsys.readouterr().out


def test_embed_pdf_errors(tiny_dirs, tmp_path, capsys) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    args = ["embed", "--model", str(tiny_dirs("qwen2_vl")), "--output", str(tmp_path / "v.npy")]
    assert main([*args, "--pdf", str(tmp_path / "bad.pdf")]) == 2
    assert "--pdf #1: cannot open PDF" in capsys.readouterr().err
    assert main([*args, "--video", str(tmp_path / "none.mp4")]) == 2
    assert "--video #1: not found" in capsys.readouterr().err
    assert not (tmp_path / "v.npy").exists()


def test_embed_jsonl_with_video_and_pdf_fields(tiny_dirs, tmp_path) -> None:
    (tmp_path / "clip").mkdir()
    for k, f in enumerate(Image.new("RGB", (30, 20), (25 * k, 40, 90)) for k in range(9)):
        f.save(tmp_path / "clip" / f"f{k}.jpg")
    _pdf(tmp_path / "doc.pdf", 2)
    rows = [{"video": "clip", "text": "what happens?"}, {"pdf": "doc.pdf", "page": 2}, {"pdf": "doc.pdf"}]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "v.npy"
    assert main(["embed", "--model", str(tiny_dirs("qwen2_vl")), "--input", str(tmp_path / "items.jsonl"),
                 "--output", str(out)]) == 0
    mapping = [json.loads(line) for line in (tmp_path / "v.rows.jsonl").read_text().splitlines()]
    assert [(r["input"], r["page"]) for r in mapping] == [(0, None), (1, 2), (2, 1), (2, 2)]
    vecs = np.load(out)
    np.testing.assert_allclose(vecs[1], vecs[3], atol=1e-6)  # {pdf, page: 2} is the expanded page 2
    pages = _rendered(tmp_path / "doc.pdf")
    emb = Embedder.from_pretrained(tiny_dirs("qwen2_vl"), device="cpu")
    np.testing.assert_allclose(vecs[2:], emb.encode([Item(image=p) for p in pages]), atol=1e-5)
