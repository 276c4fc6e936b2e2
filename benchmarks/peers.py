"""P8 peers: items/s of `Embedder.encode` vs `SentenceTransformer.encode` on the SAME exported model
(`mme5 export --to sentence-transformers`), same items, batch size and threads; and onnxruntime vs
torch for the text path (`mme5 export --to onnx`).

The sentence-transformers side is the exported stack: for Qwen2-VL mme5's input module (MME5Input +
Pooling + Normalize), for Mllama sentence-transformers' own Transformer module and the exported chat
template (docs/export.md; the figures in RESULTS.md P8 predate that path). Either way the same
processor and forward per batch, sentence-transformers' own batching (it sorts by character
length / pixel count; mme5 by processed sequence length, cut by padding: `mme5.model.planning`)
and its pooling/normalise modules. Each repeat runs
both sides back to back (interleaved) so load on the shared machine hits both alike; the figure is
the median of --repeats.

    .venv/bin/python benchmarks/peers.py [--backbone qwen2_vl] [--items 32] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from mme5 import Embedder, Item
from mme5.model.backbones import TinySizes
from mme5.model.tiny import build_tiny
from mme5.prompts import FIND_IMAGE_FOR_CAPTION, REPRESENT_IMAGE

SIZES = TinySizes(
    text_hidden=256,
    text_layers=4,
    heads=4,
    kv_heads=2,
    intermediate=688,
    vision_hidden=64,
    vision_layers=2,
    image_size=56,
    vocab_size=2000,
)
WORDS = "the a cat dog sits on red blue mat near window under tree with two people riding bikes".split()


def workloads(n: int) -> dict[str, tuple[list[Any], list[Item]]]:
    """kind -> (sentence-transformers inputs, the same items for mme5); the prompt is applied separately."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 40)))) for _ in range(n)]
    images = [
        Image.fromarray(
            rng.integers(0, 255, (int(rng.integers(40, 120)), int(rng.integers(40, 120)), 3), dtype=np.uint8)
        )
        for _ in range(n)
    ]
    mixed_st: list[Any] = [{"text": t, "image": im} if k % 2 else t for k, (t, im) in enumerate(zip(texts, images))]
    mixed = [Item(text=t, image=im if k % 2 else None) for k, (t, im) in enumerate(zip(texts, images))]
    return {
        "text": (texts, [Item(text=t) for t in texts]),
        "image": (images, [Item(image=im) for im in images]),
        "image+text mix": (mixed_st, mixed),
    }


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds per function, calling them in turn each repeat (after one warm-up each); the
    order alternates between repeats (ABBA), so drift in the machine's load hits both alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        for name, fn in list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2_vl")
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/peers.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from mme5.integrations.export import export
    from mme5.integrations.onnx import OnnxTextEncoder
    from mme5.integrations.sentence_transformers import load_sentence_transformer

    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny(args.backbone, Path(tmp) / "base", sizes=SIZES)
        st_dir = export(base, Path(tmp) / "st", "sentence-transformers").out_dir
        onnx_dir = export(base, Path(tmp) / "onnx", "onnx").out_dir
        embedder = Embedder.from_pretrained(st_dir, device="cpu")
        st = load_sentence_transformer(st_dir, device="cpu")
        ort = OnnxTextEncoder(onnx_dir, threads=args.threads)
        rows, bs = [], args.batch_size
        for kind, (st_inputs, items) in workloads(args.items).items():
            prompt = REPRESENT_IMAGE if kind == "image" else FIND_IMAGE_FOR_CAPTION
            ours_items = [Item(text=i.text, image=i.image, instruction=prompt) for i in items]
            a = embedder.encode(ours_items, bs)
            b = st.encode(st_inputs, prompt=prompt, batch_size=bs)
            secs = interleaved(
                {
                    "mme5": lambda items=ours_items: embedder.encode(items, bs),
                    "sentence-transformers": lambda x=st_inputs, p=prompt: st.encode(x, prompt=p, batch_size=bs),
                },
                args.repeats,
            )
            rows.append(
                {
                    "workload": kind,
                    "baseline": "sentence-transformers",
                    "mme5_items_per_s": args.items / secs["mme5"],
                    "baseline_items_per_s": args.items / secs["sentence-transformers"],
                    "ratio": secs["sentence-transformers"] / secs["mme5"],
                    "max_abs_diff": float(np.abs(a - b).max()),
                }
            )
            if kind == "text":
                o = ort.encode(ours_items, bs)
                secs = interleaved(
                    {
                        "onnxruntime": lambda items=ours_items: ort.encode(items, bs),
                        "torch": lambda items=ours_items: embedder.encode(items, bs),
                    },
                    args.repeats,
                )
                rows.append(
                    {
                        "workload": "text (ONNX path)",
                        "baseline": "torch Embedder.encode",
                        "mme5_items_per_s": args.items / secs["onnxruntime"],
                        "baseline_items_per_s": args.items / secs["torch"],
                        "ratio": secs["torch"] / secs["onnxruntime"],
                        "max_abs_diff": float(np.abs(o - a).max()),
                    }
                )
        params = sum(p.numel() for p in embedder.model.parameters())
    result = {
        "backbone": args.backbone,
        "params": params,
        "items": args.items,
        "batch_size": bs,
        "threads": args.threads,
        "repeats": args.repeats,
        "machine": platform.platform(),
        "torch": torch.__version__,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"{args.backbone}, {params / 1e6:.1f}M params, {args.items} items/workload, batch {bs}, "
        f"{args.threads} threads, median of {args.repeats}"
    )
    print("| workload | ours | items/s | baseline | items/s | ratio (ours/baseline speed) | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ours = "onnxruntime" if "ONNX" in r["workload"] else "mme5 Embedder.encode"
        print(
            f"| {r['workload']} | {ours} | {r['mme5_items_per_s']:.1f} | {r['baseline']} | "
            f"{r['baseline_items_per_s']:.1f} | {r['ratio']:.2f}x | {r['max_abs_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
