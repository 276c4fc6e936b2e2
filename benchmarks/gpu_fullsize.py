"""GPU, full size: bf16 matmul peak, encode throughput + MFU, one GradCache step at global batch 1024.

The model is the FULL-SIZE Llama-3.2-11B-Vision architecture with random weights: transformers'
default `MllamaConfig()` (text: hidden 4096, 40 layers, 32 heads, 8 KV heads, vocab 128,256,
cross-attention at layers 3, 8, ..., 38; vision: 1280 hidden, 32 + 8 global layers) with the
released checkpoint's 560 px tiles (max 4 per image), built directly on the GPU in bf16 with SDPA
attention (nothing is written to disk). The processor is offline: mme5's byte-level BPE tokenizer
(ids far below the vocabulary size; the config's `image_token_index` is set to its `<|image|>` id)
and a Mllama image processor with 560 px tiles.

Parts (each guarded: a failure, e.g. out of memory, is recorded in the JSON and the rest still run;
the JSON is rewritten after every part):

1. peak: median TFLOP/s of a large square `torch.matmul` in the model dtype (2 n^3 FLOPs each).
2. encode_text / encode_image: one batch through mme5's public `Embedder` — `encode` (processor
   + forward, what a user gets) and `forward` alone on the prepared batch. Text: long texts
   (default 64 x 512 tokens). Image: one random image per item (default 1120 px: 2 x 2 = 4 real
   tiles, so no padded tile is computed) with a short instruction + text.
   MFU = model FLOPs / median time / measured peak.
3. train: one GradCache step (`contrastive_step`) at global batch 1024 with mme5's training model
   (`make_trainable`, what `build_model` applies: DoRA r 8, alpha 64, dropout 0.1, gradient checkpointing) around the in-memory
   model, bf16 autocast as the HF Trainer's bf16 mode, InfoNCE with 1 hard negative. Inputs:
   synthetic text triples (default) or the toy image-text set. Step time and peak GPU memory
   (`torch.cuda.max_memory_allocated`, weights included). Collation is done once, untimed.
   No MFU here: with dropout > 0, peft's DoRA recomputes every adapted layer's base matmul on the
   dropped-out input, so the executed FLOPs are not the model's. `--train-data toy` is
   vision-heavy: HF Mllama's vision tower is not gradient-checkpointed and runs all 4 tile slots
   of every image (about 13 GB of activations per image, estimated): use `--chunk 1`, a small batch.

4. qwen3emb: Qwen3-VL-Embedding-2B under its `qwen3-vl-embedding` profile (images, 64-frame videos
   and pages per second, MFU from torch's FLOP count): `benchmarks/qwen3_vl_embedding_part.py`; it
   runs only where the weights are (`--qwen3-model`, a folder or cached hub id) and records one
   line saying why otherwise. `--smoke` runs it on the tiny offline qwen3_vl.

Model FLOPs of one forward (`forward_flops`), counted for real tokens and tiles only (padding is
not counted), as 2 x multiply-accumulates of every matmul; norms, activations, rotary, softmax
and the embedding lookup are not counted; the LM head is not computed by the Embedder and is not
counted. Per item with s text tokens and t real tiles (d hidden, kv = KV heads x head dim,
f MLP width; vision h hidden, g MLP width, P = (560/14)^2 = 1600 patches, n = t (P + 1) tokens):
  - each self-attention decoder layer: 2 s (2 d^2 + 2 d kv + 3 d f) + 4 s^2 d
    (full s x s attention scores and values, causal half not subtracted: the PaLM convention)
  - only with an image (text-only rows skip them), each cross-attention layer:
    2 s (2 d^2 + 3 d f) + 2 n (2 d kv) + 4 s n d
  - vision: patch conv 2 t P (3 x 14^2) h; each of the 32 + 8 layers 2 n (4 h^2 + 2 h g) + 4 n^2 h
    (attention spans all tiles of the image); projector 2 n (7680) d
The formula is cross-checked against torch's FlopCounterMode on the same forward
(`flops_counter_ratio`; the counter also sees padding, e.g. vision tokens padded to a multiple of 8).

    .venv/bin/python benchmarks/gpu_fullsize.py            # one H100: ~4-5 min (estimated)
    .venv/bin/python benchmarks/gpu_fullsize.py --smoke    # CPU, tiny config, the same code paths
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from mme5 import Embedder, Item  # noqa: E402
from mme5.model.backbones import TinySizes  # noqa: E402
from mme5.model.backbones.mllama import BACKBONE  # noqa: E402
from mme5.model.loading import ensure_tiny  # noqa: E402
from mme5.model.tokenizer import default_corpus, train_bpe_tokenizer  # noqa: E402
from mme5.prompts import REPRESENT_IMAGE_WITH_QUESTION  # noqa: E402
from mme5.provenance import versions, write_json  # noqa: E402
from mme5.types import ContrastiveExample  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import qwen3_vl_embedding_part as qwen3emb  # noqa: E402

TILE = 560
# --smoke: the same code paths at tiny sizes (the vocabulary stays full size: ids must fit it)
SMOKE_TEXT = {"hidden_size": 64, "num_hidden_layers": 5, "num_attention_heads": 4, "num_key_value_heads": 2,
              "intermediate_size": 128, "cross_attention_layers": [1, 3]}
SMOKE_VISION = {"hidden_size": 32, "num_hidden_layers": 2, "num_global_layers": 1, "attention_heads": 4,
                "intermediate_size": 64, "image_size": 28, "intermediate_layers_indices": [0],
                "vision_output_dim": 64}
SMOKE_ARGS = {"peak_size": 256, "text_batch": 8, "text_tokens": 64, "image_batch": 4, "image_px": 56,
              "train_batch": 8, "chunk": 4, "train_tokens": 16}
PARTS = ("peak", "encode_text", "encode_image", "train", "qwen3emb")


# ---- model and inputs ----------------------------------------------------------------------
def build_embedder(smoke: bool, device: torch.device, dtype: torch.dtype, max_length: int) -> Embedder:
    """Random-weight Mllama built on `device` + an offline processor, wrapped in mme5's Embedder."""
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaProcessor
    from transformers.models.mllama import MllamaImageProcessorPil

    tiny = BACKBONE.tiny
    tokenizer = train_bpe_tokenizer(tiny.special_tokens, bos=tiny.bos, eos=tiny.eos, pad=tiny.pad, vocab_size=32000)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    vision = SMOKE_VISION if smoke else {"image_size": TILE}
    config = MllamaConfig(vision_config=vision, text_config={**(SMOKE_TEXT if smoke else {}), **ids},
                          image_token_index=tokenizer.convert_tokens_to_ids("<|image|>"))
    tile = config.vision_config.image_size
    image_processor = MllamaImageProcessorPil(size={"height": tile, "width": tile},
                                              max_image_tiles=config.vision_config.max_num_tiles)
    processor = MllamaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    torch.manual_seed(0)
    with torch.device(device):
        model = MllamaForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation="sdpa")
    tiny.post_init(model, TinySizes())  # open the zero-initialised image gates, as mme5's tiny models do
    return Embedder(model.eval(), processor, BACKBONE, max_length=max_length)


def texts(tokenizer, count: int, n_tokens: int, seed: int) -> list[str]:
    """`count` texts of about `n_tokens` tokens: windows of the packaged corpus, repeated."""
    ids = tokenizer(" ".join(default_corpus()), add_special_tokens=False).input_ids
    ids = ids * (2 + n_tokens // len(ids))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - n_tokens, count)
    return [tokenizer.decode(ids[s : s + n_tokens]).strip() for s in starts]


def random_image(px: int, rng) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (px, px, 3), dtype=np.uint8))


# ---- FLOPs -------------------------------------------------------------------------------
def forward_flops(config, tokens: int, tiles: int) -> int:
    """Model FLOPs of one item's forward: `tokens` real text tokens, `tiles` real image tiles
    (formula in the module docstring)."""
    t, v = config.text_config, config.vision_config
    d, f = t.hidden_size, t.intermediate_size
    kv = t.num_key_value_heads * (d // t.num_attention_heads)
    n_cross = len(t.cross_attention_layers)
    flops = (t.num_hidden_layers - n_cross) * (2 * tokens * (2 * d * d + 2 * d * kv + 3 * d * f)
                                               + 4 * tokens * tokens * d)
    if tiles == 0:
        return flops
    h, g = v.hidden_size, v.intermediate_size
    patches = (v.image_size // v.patch_size) ** 2
    n = tiles * (patches + 1)
    flops += 2 * tiles * patches * v.num_channels * v.patch_size ** 2 * h
    flops += (v.num_hidden_layers + v.num_global_layers) * (2 * n * (4 * h * h + 2 * h * g) + 4 * n * n * h)
    flops += 2 * n * v.vision_output_dim * d
    flops += n_cross * (2 * tokens * (2 * d * d + 3 * d * f) + 2 * n * 2 * d * kv + 4 * tokens * n * d)
    return flops


def batch_rows(prepared) -> list[tuple[int, int]]:
    """(real text tokens, real image tiles) of each item of a prepared batch."""
    rows = []
    for _, inputs in prepared.parts:
        tokens = inputs["attention_mask"].sum(1).tolist()
        mask = inputs.get("aspect_ratio_mask")
        tiles = mask.sum((1, 2)).tolist() if mask is not None else [0] * len(tokens)
        rows += list(zip(tokens, tiles))
    return rows


# ---- timing ------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeats: int, device: torch.device, warmup=None) -> list[float]:
    """Seconds of each of `repeats` calls after one warm-up call (of `warmup`, default `fn`)."""
    (warmup or fn)()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def peak_part(args, device, dtype) -> dict:
    n, iters = args.peak_size, 50
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    out = torch.empty_like(a)

    def run():
        for _ in range(iters):
            torch.matmul(a, b, out=out)

    times = [t / iters for t in timed(run, args.repeats, device)]
    return {"size": n, "dtype": str(dtype), "iters": iters, "times_s": times,
            "tflops": 2 * n ** 3 / statistics.median(times) / 1e12}


def encode_part(embedder: Embedder, items: list[Item], args, device, peak_tflops: float | None) -> dict:
    """One batch of `items`: `Embedder.encode` (processor + forward) and `Embedder.forward` alone."""
    prepared = embedder.prepare(items)
    rows = batch_rows(prepared)
    flops = sum(forward_flops(embedder.model.config, s, t) for s, t in rows)
    # FlopCounterMode has no formula for the CPU's fused attention kernel: count the math one there
    counted_attention = sdpa_kernel(SDPBackend.MATH) if device.type == "cpu" else contextlib.nullcontext()
    with torch.no_grad():
        forward_times = timed(lambda: embedder.forward(prepared), args.repeats, device)
        with counted_attention, FlopCounterMode(display=False) as counter:
            embedder.forward(prepared)
    encode_times = timed(lambda: embedder.encode(items, batch_size=len(items)), args.repeats, device)
    tokens = sum(s for s, _ in rows)
    result = {"items": len(items), "tokens": tokens, "tiles": sum(t for _, t in rows), "flops": flops,
              "flops_counter": counter.get_total_flops(), "peak_tflops": peak_tflops}
    result["flops_counter_ratio"] = result["flops_counter"] / flops
    for name, times in (("encode", encode_times), ("forward", forward_times)):
        median = statistics.median(times)
        achieved = flops / median / 1e12
        result[name] = {"median_s": median, "times_s": times, "items_per_s": len(items) / median,
                        "tokens_per_s": tokens / median, "achieved_tflops": achieved,
                        "mfu": achieved / peak_tflops if peak_tflops else None}
    return result


def train_part(embedder: Embedder, args, device) -> dict:
    from mme5.data.collate import ContrastiveCollator
    from mme5.data.sources import load_examples
    from mme5.training.config import ModelConfig
    from mme5.training.gradcache import contrastive_step
    from mme5.training.losses import info_nce
    from mme5.training.model import make_trainable

    # what `mme5 train` does after loading (adapter defaults, gradient checkpointing), on the in-memory model
    model = make_trainable(embedder, ModelConfig(name_or_path="in-memory full-size Mllama", max_length=embedder.max_length))
    if device.type == "cuda":  # the HF Trainer's bf16 mode: accelerate wraps forward in autocast
        model.forward = torch.autocast("cuda", dtype=torch.bfloat16)(model.forward)
    n = args.train_batch
    if args.train_data == "toy":
        pool = load_examples("toy:shapes", negative_ratio=1)
    else:
        q, p, neg = (texts(embedder.tokenizer, n, args.train_tokens, seed) for seed in (1, 2, 3))
        pool = [ContrastiveExample(query=Item(text=a), positive=Item(text=b), hard_negatives=(Item(text=c),))
                for a, b, c in zip(q, p, neg)]
    examples = [pool[i % len(pool)] for i in range(n)]
    collate = ContrastiveCollator(model.embedder, examples, [f"example {i}" for i in range(n)],
                                  negative_ratio=1, chunk_size=args.chunk)
    chunks = collate([list(range(n))])["chunks"]

    def step(part):
        contrastive_step(model, part, loss_fn=info_nce, backward=lambda loss, last: loss.backward())
        model.zero_grad(set_to_none=True)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # warm-up on two chunks: a whole extra step at batch 1024 costs too much
    times = timed(lambda: step(chunks), args.repeats, device, warmup=lambda: step(chunks[:2]))
    median = statistics.median(times)
    if device.type == "cuda":
        memory, kind = torch.cuda.max_memory_allocated(device) / 2 ** 30, "torch.cuda.max_memory_allocated"
    else:
        memory, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, "process peak RSS"
    trainable = sum(p.numel() for p in model.trainable_parameters().values())
    return {"data": args.train_data, "global_batch": n, "chunk": args.chunk, "chunks": len(chunks),
            "negatives_per_example": 1, "trainable_params": trainable, "median_step_s": median,
            "times_s": times, "examples_per_s": n / median, "peak_memory_gb": memory, "memory": kind}


# ---- driver ------------------------------------------------------------------------------
FLOPS_FORMULA = " ".join(__doc__[__doc__.index("Model FLOPs"):__doc__.index("The formula is cross-checked")].split())


def model_summary(model) -> dict:
    config, inner = model.config, model.model
    t, v = config.text_config, config.vision_config
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {
        "text": {k: getattr(t, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                            "num_key_value_heads", "intermediate_size", "vocab_size",
                                            "cross_attention_layers")},
        "vision": {k: getattr(v, k) for k in ("hidden_size", "num_hidden_layers", "num_global_layers",
                                              "attention_heads", "intermediate_size", "image_size",
                                              "patch_size", "max_num_tiles")},
        "image_token_index": config.image_token_index, "attn_implementation": config._attn_implementation,
        "dtype": str(model.dtype), "params": count(model), "text_params": count(inner.language_model),
        "vision_params": count(inner.vision_model),
    }


def describe(name: str, r: dict) -> str:
    if not r["ok"]:
        return f"FAILED: {r['error'][:200]}"
    if name == "peak":
        return f"{r['tflops']:.4g} TFLOP/s ({r['dtype']} matmul {r['size']}^3)"
    if name == "model":
        return f"{r['params'] / 1e9:.2f}B params ({r['vision_params'] / 1e9:.2f}B vision), {r['dtype']}"
    if name == "qwen3emb":
        return qwen3emb.describe(r)
    if name == "train":
        return (f"{r['data']} x {r['global_batch']}, chunk {r['chunk']}: {r['median_step_s']:.2f} s/step, "
                f"{r['examples_per_s']:.1f} examples/s, peak {r['peak_memory_gb']:.1f} GB ({r['memory']})")
    mfu = lambda m: f"MFU {m['mfu']:.1%}" if m["mfu"] is not None else "MFU n/a"  # noqa: E731
    return (f"{r['items']} items, {r['tokens']} tokens, {r['tiles']} tiles, {r['flops']:.3g} FLOP "
            f"(counter/formula {r['flops_counter_ratio']:.3f}); " + "; ".join(
                f"{m}: {r[m]['items_per_s']:.1f} items/s, {r[m]['tokens_per_s']:,.0f} tok/s, "
                f"{r[m]['achieved_tflops']:.3g} TFLOP/s, {mfu(r[m])}" for m in ("encode", "forward")))


def main() -> None:
    import transformers

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="CPU, float32, tiny config: tests the code paths")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (after a warm-up)")
    ap.add_argument("--peak-size", type=int, default=8192, help="n of the n x n matmuls")
    ap.add_argument("--text-batch", type=int, default=64)
    ap.add_argument("--text-tokens", type=int, default=512)
    ap.add_argument("--image-batch", type=int, default=16)
    ap.add_argument("--image-px", type=int, default=2 * TILE, help="side of the square random images")
    ap.add_argument("--train-batch", type=int, default=1024, help="GradCache global batch")
    ap.add_argument("--chunk", type=int, default=128, help="GradCache chunk (examples)")
    ap.add_argument("--train-data", choices=("text", "toy"), default="text",
                    help="text: synthetic text triples; toy: the toy image-text set (vision-heavy, slow)")
    ap.add_argument("--train-tokens", type=int, default=32, help="tokens per synthetic training text")
    ap.add_argument("--qwen3-model", default=qwen3emb.DEFAULT_MODEL,
                    help="qwen3emb part: a Qwen3-VL-Embedding folder or cached hub id (skipped when absent)")
    ap.add_argument("--out", default="benchmarks/results/gpu_fullsize.json")
    if "--smoke" in sys.argv[1:]:
        ap.set_defaults(**SMOKE_ARGS)
    args = ap.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        ap.error("the full-size run needs a CUDA device (use --smoke on CPU)")
    device = torch.device("cpu" if args.smoke else "cuda")
    dtype = torch.float32 if args.smoke else torch.bfloat16
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {card} ({os.cpu_count()} CPU cores); torch {torch.__version__}, transformers "
          f"{transformers.__version__}; {'SMOKE (tiny config, CPU)' if args.smoke else 'full size'}, {dtype}, SDPA",
          flush=True)

    result = {"benchmark": "GPU full size: matmul peak, encode MFU, GradCache step", "smoke": args.smoke,
              "device": card, "cpu_cores": os.cpu_count(), "versions": versions(), "args": vars(args),
              "flops_formula": FLOPS_FORMULA, "parts": {}}
    parts, state = result["parts"], {}

    def save() -> None:
        write_json(args.out, result)
        if os.environ.get("OUT"):
            write_json(Path(os.environ["OUT"]) / Path(args.out).name, result)

    def run_part(name: str, fn) -> None:
        print(f"== {name} ...", flush=True)
        start = time.perf_counter()
        try:
            parts[name] = {"ok": True, **fn()}
        except Exception as exc:  # recorded (e.g. out of memory); the other parts still run
            traceback.print_exc()
            parts[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        parts[name]["elapsed_s"] = time.perf_counter() - start
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        print(f"== {name}: {describe(name, parts[name])} [{parts[name]['elapsed_s']:.1f} s]", flush=True)
        save()

    def embedder() -> Embedder:
        if "embedder" not in state:
            raise RuntimeError("the model was not built (see parts.model)")
        return state["embedder"]

    def build() -> dict:
        state["embedder"] = build_embedder(args.smoke, device, dtype, max(args.text_tokens, args.train_tokens) + 16)
        return model_summary(state["embedder"].model)

    def peak() -> float | None:
        return parts["peak"]["tflops"] if parts.get("peak", {}).get("ok") else None

    def text_items() -> list[Item]:
        return [Item(text=t) for t in texts(embedder().tokenizer, args.text_batch, args.text_tokens, seed=0)]

    def image_items() -> list[Item]:
        rng = np.random.default_rng(0)
        captions = texts(embedder().tokenizer, args.image_batch, 16, seed=1)
        return [Item(image=random_image(args.image_px, rng), text=c,
                     instruction=REPRESENT_IMAGE_WITH_QUESTION) for c in captions]

    if "peak" in args.parts:
        run_part("peak", lambda: peak_part(args, device, dtype))
    run_part("model", build)
    if "encode_text" in args.parts:
        run_part("encode_text", lambda: encode_part(embedder(), text_items(), args, device, peak()))
    if "encode_image" in args.parts:
        run_part("encode_image", lambda: encode_part(embedder(), image_items(), args, device, peak()))
    if "train" in args.parts:
        run_part("train", lambda: train_part(embedder(), args, device))
    if "qwen3emb" in args.parts:  # Qwen3-VL-Embedding-2B under its profile (benchmarks/qwen3_vl_embedding_part.py)
        state.pop("embedder", None)
        gc.collect()
        tiny = str(ensure_tiny("qwen3_vl")) if args.smoke else None
        run_part("qwen3emb", lambda: qwen3emb.run(args, device, dtype, peak(), tiny))

    summary = parts["model"]
    if summary["ok"]:
        print(f"\nmodel: text {summary['text']}\n       vision {summary['vision']}\n       image token "
              f"{summary['image_token_index']}, {summary['attn_implementation']}, {summary['dtype']}")
    print(f"MFU FLOPs: {FLOPS_FORMULA}\n")
    print("| part | result | elapsed s |\n| --- | --- | --- |")
    for name, r in parts.items():
        print(f"| {name} | {describe(name, r)} | {r['elapsed_s']:.1f} |")
    print(f"\nmedians of {args.repeats} after a warm-up; JSON: {args.out}; total "
          f"{sum(r['elapsed_s'] for r in parts.values()):.0f} s")


if __name__ == "__main__":
    main()
