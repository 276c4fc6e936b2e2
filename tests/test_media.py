"""mme5.media: frames from lists, folders and PyAV-decoded files; PDF pages via pypdfium2."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mme5 import media
from mme5.media_policy import DEFAULT_POLICY
from mme5.pdf_pages import open_pdf
from mme5.types import InputError, Item


def write_video(path: Path, n: int, codec: str = "ffv1", size: tuple[int, int] = (32, 24)) -> None:
    """A video whose frame k is a flat gray of level 2k (decodable back to its index)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p" if codec == "libx264" else "yuv444p"
        if codec == "libx264":
            stream.options = {"qp": "0"}  # lossless, so each frame's gray level survives
        for k in range(n):
            arr = np.full((size[1], size[0], 3), 2 * k, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def level(img: Image.Image) -> int:
    """The frame index a decoded flat-gray frame encodes."""
    return round(float(np.asarray(img, dtype=np.float32).mean()) / 2)


def expected_indices(total: int) -> list[int]:
    """Spec §3 done by hand: keep floor(i*N/64) for i < 64 (all if N <= 64), then 8 by linspace."""
    kept = list(range(total)) if total <= 64 else [math.floor(i * total / 64) for i in range(64)]
    if len(kept) < 8:
        return kept
    step = (len(kept) - 1) / 7
    return [kept[int(j * step)] for j in range(8)]


@pytest.mark.parametrize("total,suffix,codec", [(100, ".mkv", "ffv1"), (100, ".mp4", "libx264"), (40, ".mkv", "ffv1"), (5, ".mkv", "ffv1")])
def test_video_file_sampling(tmp_path: Path, total: int, suffix: str, codec: str) -> None:
    path = tmp_path / f"v{suffix}"
    write_video(path, total, codec)
    frames = media.load_frames(path)
    got = [level(f) for f in frames]
    assert got == expected_indices(total)
    assert all(f.mode == "RGB" and f.size == (32, 24) for f in frames)
    again = [level(f) for f in media.load_frames(path.read_bytes())]  # bytes decode the same frames
    assert again == got


def test_100_frames_literal(tmp_path: Path) -> None:
    write_video(tmp_path / "v.mkv", 100)
    assert [level(f) for f in media.load_frames(tmp_path / "v.mkv")] == [0, 14, 28, 42, 56, 70, 84, 98]


def test_frame_folder_natural_sort_and_list(tmp_path: Path) -> None:
    for k in range(12):  # natural order differs from lexicographic (frame_10 after frame_9)
        Image.new("RGB", (8, 8), (2 * k,) * 3).save(tmp_path / f"frame_{k}.{'png' if k % 2 else 'jpg'}", quality=100)
    (tmp_path / "notes.txt").write_text("not a frame")
    names = [p.name for p in media.frame_files(tmp_path)]
    assert names == [f"frame_{k}.{'png' if k % 2 else 'jpg'}" for k in range(12)]
    assert [level(f) for f in media.load_frames(tmp_path)] == [0, 1, 3, 4, 6, 7, 9, 11]
    listed = [tmp_path / n for n in names]
    assert [level(f) for f in media.load_frames(listed)] == [0, 1, 3, 4, 6, 7, 9, 11]
    assert len(media.load_frames(listed, num_frames=None)) == 12
    assert len(media.load_frames(listed[:3])) == 3  # fewer than 8: all, no padding


def test_item_video_is_hashable_and_flagged(tmp_path: Path) -> None:
    item = Item(text="x", video=[b"a", b"b"])
    assert item.video == (b"a", b"b") and item.has_video and not item.has_image
    hash(item)
    assert not Item(text="x").has_video


def test_video_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="video file not found"):
        media.load_frames(tmp_path / "missing.mp4", "row 3")
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError, match=r"row 4: cannot decode video .*bad\.mp4"):
        media.load_frames(tmp_path / "bad.mp4", "row 4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no jpg/jpeg/png frames"):
        media.load_frames(tmp_path / "empty")
    with pytest.raises(InputError, match="no frames"):
        media.load_frames([])


def make_pdf(path: Path, colors: list[tuple[int, int, int]]) -> None:
    pages = [Image.new("RGB", (200, 100), c) for c in colors]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=72)


def test_pdf_pages_and_expand(tmp_path: Path) -> None:
    colors = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    make_pdf(tmp_path / "doc.pdf", colors)
    pages = media.pdf_pages(tmp_path / "doc.pdf", dpi=72)
    assert len(pages) == 3 and pages[0].size == (200, 100)
    for page, color in zip(pages, colors):  # PDF re-encodes the pixels as JPEG/Flate: near-exact
        assert np.abs(np.asarray(page, dtype=np.float32).mean((0, 1)) - np.array(color)).max() < 6
    assert media.pdf_pages(tmp_path / "doc.pdf", dpi=144)[0].size == (400, 200)
    items = [Item(text="a"), Item(instruction="doc", pdf=tmp_path / "doc.pdf"), Item(pdf=(tmp_path / "doc.pdf").read_bytes())]
    out = media.expand_pdfs(items)
    assert [(i, p) for i, p, _ in out] == [(0, None), (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert all(it.instruction == "doc" and it.page == p and not it.has_image for i, p, it in out if i == 1)
    rendered = media.page_item(out[2][2])  # page 2: rendered when encoded
    assert rendered.pdf is None and rendered.page is None and rendered.instruction == "doc"
    assert np.array_equal(np.asarray(rendered.image), np.asarray(media.pdf_pages(tmp_path / "doc.pdf")[1]))
    doc = open_pdf(tmp_path / "doc.pdf")  # what the page costs, known before rendering it
    assert [doc.page_pixels(k, "", DEFAULT_POLICY) for k in (1, 2, 3)] == [400 * 200] * 3
    with pytest.raises(InputError, match="row 9: page 4 does not exist: the PDF has 3 pages"):
        media.page_item(Item(pdf=tmp_path / "doc.pdf", page=4), "row 9")
    with pytest.raises(InputError, match="expand it into pages first"):
        media.page_item(items[1])


def test_pdf_errors(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    with pytest.raises(InputError, match="PDF file not found"):
        media.pdf_pages(tmp_path / "nope.pdf", "row 1")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(InputError, match=r"row 2: cannot open PDF .*bad\.pdf"):
        media.pdf_pages(tmp_path / "bad.pdf", "row 2")
    make_pdf(tmp_path / "doc.pdf", [(10, 10, 10)])
    # an encrypted copy, written with pdfium's own saver is not possible; build one by hand
    enc = tmp_path / "enc.pdf"
    enc.write_bytes(_encrypted_pdf())
    with pytest.raises(InputError, match="encrypted"):
        media.pdf_pages(enc)
    assert pdfium  # imported for the skip above to be meaningful


def _encrypted_pdf() -> bytes:
    """A minimal PDF with a standard-security (RC4, R2) user password, so opening without it fails."""
    import hashlib

    pad = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
    owner = hashlib.md5(pad).digest()[:5]
    o_key = _rc4(owner, (b"user" + pad)[:32])
    file_id = b"0123456789abcdef"
    key = hashlib.md5((b"user" + pad)[:32] + o_key + (-4).to_bytes(4, "little", signed=True) + file_id).digest()[:5]
    u_key = _rc4(key, pad)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>",
            b"<< /Filter /Standard /V 1 /R 2 /O <" + o_key.hex().encode() + b"> /U <" + u_key.hex().encode() + b"> /P -4 >>"]
    body, offsets = b"%PDF-1.4\n", []
    for k, obj in enumerate(objs, 1):
        offsets.append(len(body))
        body += f"{k} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += (b"trailer\n<< /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<" + file_id.hex().encode() + b"> <"
             + file_id.hex().encode() + b">] >>\nstartxref\n" + str(xref).encode() + b"\n%%EOF\n")
    return body


def _rc4(key: bytes, data: bytes) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def test_cache_key_sees_video_and_pdf(tmp_path: Path) -> None:
    from mme5.evaluation.cache import item_key

    a, b = Image.new("RGB", (8, 8), (1, 1, 1)), Image.new("RGB", (8, 8), (9, 9, 9))
    assert item_key(Item(text="q")) != item_key(Item(text="q", video=[a, b]))
    assert item_key(Item(text="q", video=[a, b])) != item_key(Item(text="q", video=[b, a]))
    assert item_key(Item(text="q", video=[a, b])) == item_key(Item(text="q", video=(a.copy(), b.copy())))
    assert item_key(Item(pdf=b"%PDF-1")) != item_key(Item(pdf=b"%PDF-2"))
    assert item_key(Item(pdf=b"%PDF-1", page=1)) != item_key(Item(pdf=b"%PDF-1", page=2))


def test_parse_item_video_and_pdf_fields(tmp_path: Path) -> None:
    from mme5.types import parse_item

    item = parse_item({"video": ["f1.png", "/abs/f2.png"], "text": "t"}, "row 1", tmp_path)
    assert item.video == (str(tmp_path / "f1.png"), "/abs/f2.png")
    assert parse_item({"video": "clip.mp4"}, "row 2", tmp_path).video == str(tmp_path / "clip.mp4")
    assert parse_item({"pdf": "doc.pdf"}, "row 3", tmp_path).pdf == str(tmp_path / "doc.pdf")
    assert parse_item({"pdf": "doc.pdf", "page": 2}, "row 3", tmp_path).page == 2
    for bad in ({"pdf": "doc.pdf", "page": 0}, {"pdf": "doc.pdf", "page": "2"}, {"text": "x", "page": 1}):
        with pytest.raises(InputError, match="field 'page' must be a page number"):
            parse_item(bad, "row 7")
    with pytest.raises(InputError, match="row 4: field 'video' must be a path string or a list of frame paths"):
        parse_item({"video": 3}, "row 4")
    with pytest.raises(InputError, match="row 5 is empty"):
        parse_item({"video": []}, "row 5")
    with pytest.raises(InputError, match="field 'pdf' must be a path"):
        parse_item({"pdf": ["a.pdf"]}, "row 6")


def test_pdf_is_opened_once_per_document(tmp_path: Path, monkeypatch) -> None:
    """Expanding a PDF and rendering every page (what an encode does) opens the document once."""
    from mme5 import pdf_pages

    make_pdf(tmp_path / "doc.pdf", [(250, 0, 0), (0, 250, 0), (0, 0, 250), (9, 9, 9), (90, 90, 90)])
    opened = []
    real = pdf_pages.PdfDocument.__init__

    def counting(self, source, where, policy):
        opened.append(source)
        real(self, source, where, policy)

    monkeypatch.setattr(pdf_pages.PdfDocument, "__init__", counting)
    pdf_pages._local.docs = None  # a fresh per-thread cache
    rows = media.expand_pdfs([Item(pdf=tmp_path / "doc.pdf")])
    pages = [media.page_item(item, f"page {p}").image for _, p, item in rows]
    assert len(pages) == 5 and len(opened) == 1
    direct = media.pdf_pages(tmp_path / "doc.pdf")
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(pages, direct))


@pytest.mark.parametrize("keyint,bframes,total", [(10, 3, 100), (7, 2, 300)])
def test_decoding_only_the_wanted_groups_of_pictures_gives_the_same_frames(tmp_path: Path, keyint, bframes, total) -> None:
    """Many keyframes and B-frames: the frames decoded group by group equal a plain full decode's."""
    import av

    path = tmp_path / "gop.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        stream.options = {"qp": "0", "keyint": str(keyint), "min-keyint": "1", "scenecut": "0", "bframes": str(bframes)}
        rng = np.random.default_rng(0)
        for _ in range(total):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(path)) as container:  # the reference: every frame, in presentation order
        every = [f.to_image().convert("RGB") for f in container.decode(video=0)]
    got = media.load_frames(path)
    assert len(every) == total
    assert all(np.array_equal(np.asarray(g), np.asarray(every[i])) for g, i in zip(got, expected_indices(total)))
    if total == 300:  # 8 groups of 7 are decoded, not 300 frames: a budget of 120 frames is enough
        from mme5.media_policy import MediaPolicy

        media.load_frames(path, policy=MediaPolicy(max_decoded_pixels=120 * 32 * 24))
        with pytest.raises(InputError, match="max_decoded_pixels"):
            media.load_frames(path, num_frames=None, policy=MediaPolicy(max_decoded_pixels=120 * 32 * 24))
