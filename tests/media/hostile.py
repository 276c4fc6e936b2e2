"""Hostile media, generated on the spot (no fixture files): a video whose header lies about its
frame size, long high-resolution videos that cost almost nothing on disk, mixed-size frames, and
malformed, truncated or giant-page PDFs. Each is small to write and fast to refuse."""
from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
from PIL import Image


def _jpeg(size: tuple[int, int], level: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (level, level, level)).save(buf, format="JPEG", quality=50)
    return buf.getvalue()


def _mux(codec: str, header_size: tuple[int, int], payloads: list[bytes], keyframes: list[bool] | None = None,
         container: str = "matroska") -> bytes:
    """A video file with one stream whose header says `header_size`, holding `payloads` as packets in
    order (pts = index): the packets need not match the header."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height = header_size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.time_base = Fraction(1, 25)
        for k, payload in enumerate(payloads):
            packet = av.Packet(payload)
            packet.pts = packet.dts = k
            packet.time_base = stream.time_base
            packet.stream = stream
            packet.is_keyframe = True if keyframes is None else keyframes[k]
            out.mux(packet)
    return buf.getvalue()


def header_lying_video(big: int = 6000, frames: int = 16) -> bytes:
    """MJPEG whose container header (and first frames) say 64x64, while its later frames are big x big."""
    small, large = _jpeg((64, 64)), _jpeg((big, big))
    return _mux("mjpeg", (64, 64), [small] * (frames - 2) + [large] * 2)


def long_video(frames: int, side: int) -> bytes:
    """`frames` frames of side x side in ONE group of pictures: an H.264 keyframe followed by the same
    tiny 'nothing changed' P-frame repeated. Megabytes at most on disk, yet every frame decodes at full
    size, and a frame near the end can only be reached by decoding all before it."""
    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width = encoder.height = side
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"preset": "ultrafast", "bframes": "0", "keyint": "100000"}
    encoder.open()
    packets = []
    picture = np.full((side, side, 3), 90, dtype=np.uint8)
    for k in range(3):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = k
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    key, skip = packets[0], packets[-1]
    # MPEG-TS keeps the encoder's Annex B packets (parameter sets inline) as they are
    return _mux("h264", (side, side), [key] + [skip] * (frames - 1), [True] + [False] * (frames - 1), "mpegts")


def mixed_size_frames(folder, n: int = 6) -> None:
    """A frame folder alternating 640x480 and 480x640 PNGs (frame k has gray level 20k)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.new("RGB", (640, 480) if k % 2 == 0 else (480, 640), (20 * k,) * 3).save(folder / f"frame_{k}.png")


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF with a correct cross-reference table over `objects` (object k+1 = objects[k]; 1 = catalog)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for k, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_with_pages(boxes: list[tuple[float, float]]) -> bytes:
    """Blank pages of the given MediaBox sizes in points."""
    n = len(boxes)
    kids = b" ".join(b"%d 0 R" % (3 + k) for k in range(n))
    pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] >>" % box for box in boxes]
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n), *pages])


def giant_page_pdf() -> bytes:
    """One 14400 x 14400 pt page (200 x 200 in, the largest PDF allows): 829 megapixels at 144 dpi."""
    return pdf_with_pages([(14400, 14400)])


def broken_page_tree_pdf() -> bytes:
    """A page tree that says 3 pages but whose kids are a loop back to the tree and a non-page object."""
    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R 4 0 R] /Count 3 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>",
        b"<< /Type /Font >>",
    ])


def truncated_pdf(pages: int = 3) -> bytes:
    """A valid PDF cut in the middle of its page objects."""
    data = pdf_with_pages([(200, 100)] * pages)
    return data[: len(data) // 3]
