"""A miniature MMEB-V2 folder in the published layouts, built by the tests: rendered document
pages (text pages drawn with PIL; CLDR emoji names in several languages when ../shared has them),
frame folders in the archive layout plus one PyAV-written video (the raw-video fallback), and one
image task in the MMEB-eval row format."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TOPICS = ["quarterly revenue table", "protein folding figure", "river delta map", "engine torque curve",
          "election turnout chart", "bird migration routes"]
LABELS = ["abseiling", "juggling balls", "making tea", "surfing water"]


def render_page(lines: list[str], size: tuple[int, int] = (84, 112)) -> Image.Image:
    """A white page with dark text lines (a real rendered document page, PIL's default font)."""
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    for i, line in enumerate(lines):
        draw.text((4, 4 + 12 * i), line, fill=(20, 20, 20))
    return page


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def emoji_lines(emoji_dir: Path | None, n: int) -> list[list[str]]:
    """Page texts from CLDR emoji names in several languages (empty when the data is absent)."""
    if emoji_dir is None or not (emoji_dir / "emoji.jsonl").is_file():
        return []
    pages = []
    with (emoji_dir / "emoji.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            names = row.get("name", {})
            if all(lang in names for lang in ("en", "de", "fr")):
                pages.append([names["en"], names["de"], names["fr"]])
            if len(pages) == n:
                break
    return pages


def write_beir_jsonl(root: Path) -> None:
    """ViDoRe_arxivqa: BEIR JSON lines, pages as PNG files relative to the task folder; graded qrels."""
    folder = root / "ViDoRe_arxivqa"
    (folder / "pages").mkdir(parents=True, exist_ok=True)
    for i, topic in enumerate(TOPICS):
        render_page([f"Page {i}", *topic.split()]).save(folder / "pages" / f"p{i}.png")
    _jsonl(folder / "corpus.jsonl", [{"corpus-id": i, "image": f"pages/p{i}.png"} for i in range(len(TOPICS))])
    _jsonl(folder / "queries.jsonl", [{"query-id": f"q{i}", "query": f"Which page shows the {TOPICS[i]}?"}
                                      for i in range(4)] + [{"query-id": "q-none", "query": "unjudged"}])
    qrels = [{"query-id": f"q{i}", "corpus-id": i, "score": 2} for i in range(4)]
    qrels += [{"query-id": "q0", "corpus-id": 4, "score": 1}, {"query-id": "q1", "corpus-id": 5, "score": 0}]
    _jsonl(folder / "qrels.jsonl", qrels)


def write_beir_parquet(root: Path, emoji_dir: Path | None) -> None:
    """ViDoSeek-doc: the hub's parquet files (page bytes inside), mixed grades (3 = reference page,
    2 = another page of the document) as in the spec's OOD build."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "ViDoSeek-doc"
    folder.mkdir(parents=True, exist_ok=True)
    texts = emoji_lines(emoji_dir, 6) or [[f"doc {i // 3} page {i % 3}", TOPICS[i]] for i in range(6)]
    corpus = []
    for i, lines in enumerate(texts):
        buf = io.BytesIO()
        render_page(lines).save(buf, format="PNG")
        corpus.append({"corpus-id": f"d{i}", "image": {"bytes": buf.getvalue(), "path": f"d{i}.png"}})
    pq.write_table(pa.Table.from_pylist(corpus), folder / "corpus.parquet")
    queries = [{"query-id": f"q{i}", "query": " / ".join(texts[i]), "language": "en"} for i in range(3)]
    pq.write_table(pa.Table.from_pylist(queries), folder / "queries.parquet")
    qrels = []
    for i in range(3):
        doc = 0 if i < 2 else 3
        qrels += [{"query-id": f"q{i}", "corpus-id": f"d{doc + j}", "score": 3 if doc + j == i else 2} for j in range(3)]
    pq.write_table(pa.Table.from_pylist(qrels), folder / "qrels.parquet")


def frames(seed: int, n: int = 10, size: int = 56) -> list[Image.Image]:
    """A moving square on a coloured background: frames that differ from video to video."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    out = []
    for t in range(n):
        arr = np.full((size, size, 3), base, dtype=np.uint8)
        x = (4 * t + 7 * seed) % (size - 12)
        arr[10:22, x : x + 12] = 255 - base
        out.append(Image.fromarray(arr))
    return out


def write_video(path: Path, images: list[Image.Image]) -> None:
    """A lossless video file written with PyAV (ffv1 in Matroska)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=10)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv444p"
        for img in images:
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_video_cls(root: Path) -> None:
    """K700 (global classification): rows `video_id, pos_text`, frame folders under
    video_cls/K700/<video>/frame_0001.jpg..., the last video only as a raw video file, and the
    full label list (one label no row has) in K700/labels.txt."""
    rows = []
    cls_root = root / "video_cls" / "K700"
    for i in range(4):
        vid = f"vid{i:02d}"
        images = frames(i)
        if i == 3:
            cls_root.mkdir(parents=True, exist_ok=True)
            write_video(cls_root / f"{vid}.mkv", images)
        else:
            (cls_root / vid).mkdir(parents=True, exist_ok=True)
            for t, img in enumerate(images, 1):
                img.save(cls_root / vid / f"frame_{t:04d}.jpg", quality=95)
        rows.append({"video_id": vid, "pos_text": LABELS[i % 3]})
    _jsonl(root / "K700.jsonl", rows)
    (root / "K700").mkdir(exist_ok=True)
    (root / "K700" / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")


def write_image_task(root: Path) -> None:
    """ImageNet-1K in the MMEB-eval row format (candidate 0 is the positive)."""
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(4):
        frames(10 + i)[0].save(root / "imgs" / f"{i}.png")
        labels = [LABELS[i % 4]] + [lab for lab in LABELS if lab != LABELS[i % 4]]
        rows.append({"qry_text": "<|image_1|>\nRepresent the given image for classification\n",
                     "qry_img_path": f"imgs/{i}.png", "tgt_text": labels, "tgt_img_path": [""] * 4})
    _jsonl(root / "ImageNet-1K.jsonl", rows)


def build(root: Path, emoji_dir: Path | None = None) -> Path:
    write_beir_jsonl(root)
    write_beir_parquet(root, emoji_dir)
    write_video_cls(root)
    write_image_task(root)
    return root
