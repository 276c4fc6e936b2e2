"""Serve OpenAI-style multimodal embeddings over HTTP: POST /v1/embeddings (text, image, image+text),
POST /v1/search (with --index), GET /v1/models, /health, /metrics. See docs/serving.md."""
from __future__ import annotations

import os

NAME = "serve"
HELP = "serve /v1/embeddings and /v1/search over HTTP (uvicorn)"

# ServerSettings fields exposed as --flags: (field, type, help); defaults come from ServerSettings
TUNING = (
    ("max_batch_size", int, "most items per model forward"),
    ("max_wait_ms", float, "how long to wait for more requests to fill a batch"),
    ("max_queue_items", int, "items allowed to wait; beyond this requests get 429 + Retry-After"),
    ("request_timeout_s", float, "per-request limit on queue wait + encoding (504 after)"),
    ("max_request_bytes", int, "largest request body (413 above)"),
    ("max_items", int, "most inputs per request"),
    ("max_image_pixels", int, "largest decoded image, width x height (413 above)"),
    ("max_request_pixels", int, "most decoded pixels summed over a request's images (413 above)"),
    ("max_text_chars", int, "longest text or instruction, in characters"),
    ("max_top_k", int, "largest top_k for /v1/search"),
)


def register(p) -> None:
    from ..serving.settings import ServerSettings

    defaults = ServerSettings()
    p.add_argument("--model", help="model folder or hub id (default: the embedded tiny Mllama, random weights)")
    p.add_argument("--adapter", help="LoRA adapter folder, merged at load time")
    p.add_argument("--model-name", help="id clients send as `model` (default: the model folder's name, or mme5-tiny)")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument("--device", help="cpu | cuda | cuda:N (default: cuda if available)")
    p.add_argument("--max-length", type=int, default=256, help="text tokens per item (longer texts are truncated)")
    p.add_argument("--threads", type=int, help="torch CPU threads for the model (default: torch's choice); leave "
                                               "a core for the HTTP event loop on small machines")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--index", help="index folder from `mme5 index build`; enables POST /v1/search")
    p.add_argument("--image-root", help="allow image paths, only under this folder (default: data URLs only)")
    p.add_argument("--allow-remote-images", action="store_true",
                   help="fetch http(s) image URLs (off by default: the server could be used to reach internal hosts)")
    p.add_argument("--api-key", default=os.environ.get("MME5_API_KEY"),
                   help="require 'Authorization: Bearer KEY' on /v1/* (default: $MME5_API_KEY; unset = open)")
    for field, kind, text in TUNING:
        p.add_argument(f"--{field.replace('_', '-')}", type=kind, default=getattr(defaults, field),
                       help=f"{text} (default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def model_name(args) -> str:
    """What `/v1/models` lists: --model-name, else the folder's name or hub id, else mme5-tiny."""
    from pathlib import Path

    if args.model_name:
        return args.model_name
    if args.model is None:
        return "mme5-tiny"
    path = Path(args.model)
    return path.resolve().name if path.is_dir() else str(args.model)


def run(args) -> int:
    import uvicorn

    from ..inference.loading import load_embedder
    from ..serving import ServerSettings, create_app
    from ..serving.index import VectorIndex
    from ..serving.inputs import InputPolicy

    settings = ServerSettings(
        model_name=model_name(args), image_root=args.image_root, allow_remote_images=args.allow_remote_images,
        api_key=args.api_key or None, **{field: getattr(args, field) for field, _, _ in TUNING},
    )
    InputPolicy.from_settings(settings)  # a bad --image-root fails now, not after loading the model
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    index = VectorIndex.load(args.index) if args.index else None
    embedder = load_embedder(args.model, adapter=args.adapter, dtype=args.dtype, device=args.device,
                             max_length=args.max_length)
    app = create_app(embedder, settings, index)
    if args.model is None:
        print("model: embedded tiny Mllama with RANDOM weights (vectors are not meaningful; pass --model)")
    search = f", /v1/search over {len(index)} items" if index is not None else ""
    print(f"serving {settings.model_name!r} ({embedder.backbone.name}, dim {embedder.dim}{search}) "
          f"on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
