"""The Qwen3-VL-Embedding-2B part of `benchmarks/gpu_fullsize.py`: the real checkpoint under its
profile (`qwen3-vl-embedding`), bf16 with SDPA, one batch each of images, 64-frame videos and
document pages through mme5's public `Embedder.encode` (resizing, chat template, processor,
forward, pooling) and `Embedder.forward` alone on the prepared batch.

Throughput is items per second (median of the repeats after a warm-up). MFU = the FLOPs torch's
`FlopCounterMode` counts for that forward (vision tower and decoder, padding included) / median
forward time / the measured matmul peak of the `peak` part.

It runs only where the weights are: `--qwen3-model` (default `Qwen/Qwen3-VL-Embedding-2B`), a
folder or a hub id already in the local hub cache; otherwise the part records one line saying why
and is skipped. `--smoke` runs the same code on the tiny offline `qwen3_vl` under the profile.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.flop_counter import FlopCounterMode

from mme5 import Embedder, Item

DEFAULT_MODEL = "Qwen/Qwen3-VL-Embedding-2B"
PROFILE = "qwen3-vl-embedding"


def weights_present(model: str) -> str | None:
    """None when `model` can be loaded offline, else the one line saying why not."""
    if Path(model).is_dir():
        return None if (Path(model) / "config.json").is_file() else f"{model} has no config.json"
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json")
    return None if isinstance(found, str) else f"{model} is not in the local hub cache (no download is attempted)"


def _photo(rng, w: int, h: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _page(i: int, w: int = 1240, h: int = 1754) -> Image.Image:
    page = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(page)
    for line in range(60):
        draw.text(
            (60, 60 + 27 * line), f"page {i} line {line}: quarterly revenue by region and segment", fill=(20, 20, 20)
        )
    return page


def workloads(smoke: bool) -> dict[str, list[Item]]:
    """Images (photo-sized), videos (64 frames, 640 x 360), pages (A4 at 150 dpi) with instructions."""
    rng = np.random.default_rng(0)
    n_img, n_vid, n_page, frames = (2, 1, 1, 4) if smoke else (16, 4, 8, 64)
    size, vsize, psize = ((96, 64), (64, 36), (124, 175)) if smoke else ((1024, 768), (640, 360), (1240, 1754))
    return {
        "images": [Item(image=_photo(rng, *size), instruction="Represent the image.") for _ in range(n_img)],
        "videos": [
            Item(video=[_photo(rng, *vsize) for _ in range(frames)], instruction="Represent the video.")
            for _ in range(n_vid)
        ],
        "pages": [Item(image=_page(i, *psize)) for i in range(n_page)],
    }


def _timed(fn, repeats: int, device: torch.device) -> list[float]:
    import time

    fn()  # warm-up
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out.append(time.perf_counter() - start)
    return out


def measure(embedder: Embedder, items: list[Item], repeats: int, device: torch.device, peak: float | None) -> dict:
    prepared = embedder.prepare(items)
    tokens = int(prepared.token_counts().sum())
    with torch.no_grad():
        forward = _timed(lambda: embedder.forward(prepared), repeats, device)
        with FlopCounterMode(display=False) as counter:
            embedder.forward(prepared)
    encode = _timed(lambda: embedder.encode(items, batch_size=len(items)), repeats, device)
    flops = counter.get_total_flops()
    out: dict[str, Any] = {"items": len(items), "tokens": tokens, "flops_counted": flops}
    for name, times in (("encode", encode), ("forward", forward)):
        median = statistics.median(times)
        achieved = flops / median / 1e12
        out[name] = {
            "median_s": median,
            "times_s": times,
            "items_per_s": len(items) / median,
            "achieved_tflops": achieved,
            "mfu": achieved / peak if peak else None,
        }
    return out


def run(args, device: torch.device, dtype: torch.dtype, peak: float | None, tiny_dir: str | None = None) -> dict:
    """The part's record: skipped (one line) without weights, else throughput and MFU per workload."""
    model = tiny_dir if args.smoke else args.qwen3_model
    if model is None or (reason := weights_present(model)) is not None:
        return {"skipped": reason or "no model"}
    embedder = Embedder.from_pretrained(model, dtype=dtype, device=str(device), profile=PROFILE)
    result: dict[str, Any] = {"model": model, "profile": embedder.profile, "dim": embedder.dim}
    for name, items in workloads(args.smoke).items():
        result[name] = measure(embedder, items, args.repeats, device, peak)
    del embedder
    return result


def describe(r: dict) -> str:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    cells = []
    for name in ("images", "videos", "pages"):
        if name in r:
            e, f = r[name]["encode"], r[name]["forward"]
            mfu = f" MFU {f['mfu']:.1%}" if f["mfu"] else ""
            cells.append(f"{name} {e['items_per_s']:.2f}/s encode, {f['items_per_s']:.2f}/s forward{mfu}")
    return "; ".join(cells)
