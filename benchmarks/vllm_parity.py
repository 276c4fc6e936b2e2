"""vLLM parity (GPU machine): do vLLM's pooling runner and mme5 give the same vectors for an
`mme5 export --to vllm` folder (Qwen2-VL / 2.5 / 3-VL)?

Two ways to reach vLLM:
  offline (default): `vllm.LLM(OUT, runner="pooling", convert="embed", pooler_config=LAST + normalise)`,
      prompts rendered with the export's chat template (`mme5_embedding.jinja`), images as
      `multi_modal_data`;
  --url http://HOST:PORT: a running `sh OUT/vllm_serve.sh`, one `/v1/embeddings` request per item with
      `messages` (system = instruction, user = image + text), as docs/export.md shows.
mme5's side: `Embedder.from_pretrained(OUT).encode` in float32 (vLLM runs --dtype, default bfloat16:
expect ~1e-2 cosine gaps in bf16, ~1e-5 in float32).

    python benchmarks/vllm_parity.py OUT [--url URL] [--dtype float32] [--out results/vllm_parity.json]
    python benchmarks/vllm_parity.py OUT --dry-run    # CPU: check the folder, print the requests
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path, help="an `mme5 export --to vllm` folder")
    p.add_argument("--url", help="a running vLLM server (else vLLM runs in-process)")
    p.add_argument("--dtype", default="float32", help="vLLM --dtype (float32 for a tight comparison)")
    p.add_argument("--items", type=int, default=12, help="items per kind (text, image, image+text)")
    p.add_argument("--tolerance", type=float, default=1e-3, help="max |cosine - 1| counted as parity")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    p.add_argument("--dry-run", action="store_true", help="check the folder and print the requests; no vLLM")
    args = p.parse_args(argv)
    from mme5.integrations import vllm

    missing = [f for f in (vllm.TEMPLATE_FILE, vllm.POOLER_FILE, "config.json", "mme5_embedding.json")
               if not (args.model_dir / f).is_file()]
    if missing:
        p.error(f"{args.model_dir} is not an `mme5 export --to vllm` folder: missing {', '.join(missing)}")
    return args


def make_items(n: int) -> list[Any]:
    """n texts with the caption instruction, n images with the image instruction, n image+text items."""
    from PIL import Image

    from mme5 import Item
    from mme5.prompts import FIND_IMAGE_FOR_CAPTION, REPRESENT_IMAGE, REPRESENT_IMAGE_WITH_QUESTION

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (int(rng.integers(56, 400)), int(rng.integers(56, 400)), 3),
                                           dtype=np.uint8)) for _ in range(n)]
    texts = [f"a photo of {k} {w}" for k, w in zip(range(n), ["cats", "dogs", "bikes", "trees"] * n)]
    return ([Item(text=t, instruction=FIND_IMAGE_FOR_CAPTION) for t in texts]
            + [Item(image=img, instruction=REPRESENT_IMAGE) for img in images]
            + [Item(text=t, image=img, instruction=REPRESENT_IMAGE_WITH_QUESTION) for t, img in zip(texts, images)])


def _data_url(image: Any) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def requests_for(items: list[Any]) -> list[dict[str, Any]]:
    from mme5.integrations.vllm import request_messages

    return [{"messages": request_messages(it.instruction, it.text, _data_url(it.image) if it.has_image else None),
             "encoding_format": "float"} for it in items]


def vllm_vectors_offline(model_dir: Path, items: list[Any], dtype: str) -> np.ndarray:
    from vllm import LLM  # GPU machine only

    from mme5.integrations.profile import read_profile
    from mme5.model.formatting import format_text

    profile = read_profile(model_dir)
    llm = LLM(model=str(model_dir), runner="pooling", convert="embed", dtype=dtype,
              pooler_config={"pooling_type": "LAST", "use_activation": True}, max_model_len=4096)
    prompts = [{"prompt": format_text(it, profile.spec), **({"multi_modal_data": {"image": it.image}} if it.has_image else {})}
               for it in items]
    outputs = llm.embed(prompts)
    return np.asarray([o.outputs.embedding for o in outputs], dtype=np.float32)


def vllm_vectors_http(url: str, model_dir: Path, items: list[Any]) -> np.ndarray:
    import httpx

    vectors = []
    for body in requests_for(items):
        r = httpx.post(f"{url.rstrip('/')}/v1/embeddings", json={"model": ".", **body}, timeout=120)
        r.raise_for_status()
        vectors.append(r.json()["data"][0]["embedding"])
    return np.asarray(vectors, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    items = make_items(args.items)
    if args.dry_run:
        print(json.dumps(requests_for(items[:1] + items[-1:]), indent=2)[:2000])
        print(f"dry run: {len(items)} items ready; vLLM not started")
        return 0
    from mme5 import Embedder

    ours = Embedder.from_pretrained(args.model_dir, dtype="float32").encode(items, batch_size=8)
    theirs = (vllm_vectors_http(args.url, args.model_dir, items) if args.url
              else vllm_vectors_offline(args.model_dir, items, args.dtype))
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    cosine = (ours * theirs).sum(axis=1)
    kinds = {"text": cosine[: args.items], "image": cosine[args.items: 2 * args.items],
             "image+text": cosine[2 * args.items:]}
    report = {kind: {"min_cosine": float(c.min()), "max_abs_diff": float(np.abs(1 - c).max())} for kind, c in kinds.items()}
    report["parity"] = bool(np.abs(1 - cosine).max() <= args.tolerance)
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    return 0 if report["parity"] else 1


if __name__ == "__main__":
    sys.exit(main())
