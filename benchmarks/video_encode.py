"""P10 (video line): encode throughput of videos vs single images on the tiny Qwen2-VL, through
`Embedder.encode` (media loading + processor + forward), median of `--repeats` after a warm-up.

Rows, all with frames of the same size:
  image        one image per item (the baseline)
  video_frames 8 in-memory frames per item (temporal pairs: grid_t = 4, four times the visual
               tokens of one image)
  video_file   a video file per item (PyAV decode of 64 evenly spaced frames' worth, 8 sampled)
`*_cost_vs_image` = image items/s over video items/s: how many times longer a video takes.
Rows are timed interleaved, round by round; process CPU time is reported beside wall time
because the benchmark machine is shared (CPU time is what the encode itself spent).

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


def timed(emb: Embedder, rows: dict[str, list[Item]], batch_size: int, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Wall and process-CPU seconds per encode of each row, rows interleaved round by round (the
    machine is shared: a load spike then hits every row alike, and CPU time hardly sees it)."""
    for items in rows.values():
        emb.encode(items[:batch_size], batch_size=batch_size)  # warm-up
    out: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in rows}
    names = list(rows)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            w0, c0 = time.perf_counter(), time.process_time()
            emb.encode(rows[name], batch_size=batch_size)
            out[name]["wall"].append(time.perf_counter() - w0)
            out[name]["cpu"].append(time.process_time() - c0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--side", type=int, default=112)
    ap.add_argument("--file-frames", type=int, default=48, help="frames in each video file")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/video_encode.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
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
        for name, runs in timed(emb, rows, args.batch_size, args.repeats).items():
            (_, inputs), = emb.prepare(rows[name][:1]).parts
            out[name] = {"items_per_s_wall": round(args.items / statistics.median(runs["wall"]), 2),
                         "items_per_cpu_s": round(args.items / statistics.median(runs["cpu"]), 2),
                         "wall_s": [round(t, 4) for t in runs["wall"]], "cpu_s": [round(t, 4) for t in runs["cpu"]],
                         "tokens_per_item": int(inputs["attention_mask"].sum())}
        for video in ("video_frames", "video_file"):  # how many times longer a video takes than an image
            out[f"{video}_cost_vs_image"] = {
                unit: round(out["image"][key] / out[video][key], 2)
                for unit, key in (("wall", "items_per_s_wall"), ("cpu", "items_per_cpu_s"))}
        out["setup"] = {"items": args.items, "side": args.side, "file_frames": args.file_frames,
                        "batch_size": args.batch_size, "repeats": args.repeats, "torch_threads": torch.get_num_threads(),
                        "machine": platform.processor() or platform.machine()}
    print(json.dumps(out, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
