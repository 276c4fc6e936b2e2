"""P10 (video line): encode throughput of videos vs single images on the tiny Qwen2-VL, through
`Embedder.encode` (media loading + processor + forward), median of `--repeats` after a warm-up.

Rows, all with frames of the same size:
  image        one image per item (the baseline)
  video_frames 8 in-memory frames per item (temporal pairs: grid_t = 4, four times the visual
               tokens of one image)
  video_file   a video file per item (PyAV decode of 64 evenly spaced frames' worth, 8 sampled)
The ratio image / video says what a video costs against an image on the same machine.

    .venv/bin/python benchmarks/video_encode.py [--items 32 --side 112 --repeats 5 --out FILE]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mme5 import Embedder, Item
from mme5.model.tiny import build_tiny
from mme5.prompts import V2_VIDEO_TARGET, V2_VISDOC_PAGE


def write_video(path: Path, frames: list[Image.Image], fps: int = 8) -> None:
    """An H.264 (lossless) .mp4 of `frames`, written with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        stream.options = {"qp": "0"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_image(f)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def timed(emb: Embedder, items: list[Item], batch_size: int, repeats: int) -> list[float]:
    emb.encode(items[:batch_size], batch_size=batch_size)  # warm-up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        emb.encode(items, batch_size=batch_size)
        runs.append(time.perf_counter() - t0)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--side", type=int, default=112)
    ap.add_argument("--file-frames", type=int, default=48, help="frames in each video file")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/video_encode.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    def frame() -> Image.Image:
        return Image.fromarray(rng.integers(0, 255, (args.side, args.side, 3), dtype=np.uint8))

    with tempfile.TemporaryDirectory() as tmp:
        emb = Embedder.from_pretrained(build_tiny("qwen2_vl", Path(tmp) / "model"), device="cpu")
        files = []
        for k in range(args.items):
            files.append(Path(tmp) / f"v{k}.mp4")
            write_video(files[-1], [frame() for _ in range(args.file_frames)])
        rows = {
            "image": [Item(instruction=V2_VISDOC_PAGE, image=frame()) for _ in range(args.items)],
            "video_frames": [Item(instruction=V2_VIDEO_TARGET, video=[frame() for _ in range(8)]) for _ in range(args.items)],
            "video_file": [Item(instruction=V2_VIDEO_TARGET, video=f) for f in files],
        }
        out: dict = {}
        for name, items in rows.items():
            runs = timed(emb, items, args.batch_size, args.repeats)
            (_, inputs), = emb.prepare(items[:1]).parts
            out[name] = {"items_per_s": round(args.items / statistics.median(runs), 2),
                         "median_s": round(statistics.median(runs), 4), "runs_s": [round(t, 4) for t in runs],
                         "tokens_per_item": int(inputs["attention_mask"].sum())}
        out["image_over_video_frames"] = round(out["image"]["items_per_s"] / out["video_frames"]["items_per_s"], 2)
        out["image_over_video_file"] = round(out["image"]["items_per_s"] / out["video_file"]["items_per_s"], 2)
        out["setup"] = {"items": args.items, "side": args.side, "file_frames": args.file_frames,
                        "batch_size": args.batch_size, "repeats": args.repeats, "torch_threads": torch.get_num_threads(),
                        "machine": platform.processor() or platform.machine()}
    print(json.dumps(out, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
