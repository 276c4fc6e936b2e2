"""Serve OpenAI-style multimodal embeddings over HTTP: POST /v1/embeddings (text, image, image+text),
POST /v1/search (with --index), POST /v1/rerank (with --reranker), GET /v1/models, /health, /metrics.
See docs/serving.md and docs/rerank.md."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .index import add_knob_args, load_for_index
from .options import (
    INDEX_MODEL_DEFAULT,
    TINY_DEFAULT,
    add_config_args,
    add_model_args,
    add_reranker_args,
    config_from_args,
    embedder_from_args,
    reranker_from_args,
)

if TYPE_CHECKING:
    from ..serving.settings import ServerSettings

NAME = "serve"
HELP = "serve /v1/embeddings and /v1/search over HTTP (uvicorn)"


def register(p) -> None:
    add_model_args(
        p,
        batch_size_default=None,
        batch_size_help="most items per model forward; larger requests are encoded in chunks "
        "(ServerSettings.max_batch_size)",
        model_default=f"with --index, {INDEX_MODEL_DEFAULT}; else {TINY_DEFAULT}",
    )
    p.add_argument("--model-name", help="id clients send as `model` (default: the model folder's name, or mme5-tiny)")
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads for the model (default: torch's choice); leave "
        "a core for the HTTP event loop on small machines",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--index",
        help="index folder from `mme5 index build`; enables POST /v1/search (without --model: serves "
        "the model index.json records)",
    )
    add_knob_args(p)
    add_reranker_args(p)
    p.add_argument("--reranker-name", help="id clients send as the rerank `model` (default: the folder's name)")
    p.add_argument("--image-root", help="allow image paths, only under this folder (default: data URLs only)")
    p.add_argument(
        "--allow-remote-images",
        action="store_true",
        default=None,
        help="fetch http(s) image URLs (off by default: the server could be used to reach internal hosts)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("MME5_API_KEY"),
        help="require 'Authorization: Bearer KEY' on /v1/* (default: $MME5_API_KEY; unset = open)",
    )
    p.add_argument(
        "--allow-untrained-dims",
        action="store_true",
        default=None,
        help="serve `dimensions` the model was not trained for (default: only its matryoshka_dims)",
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.epilog = _settings_epilog()
    add_config_args(p, what="ServerSettings", examples=("max_wait_ms=2", "max_items=64"))


def _settings_epilog() -> str:
    """The ServerSettings fields and their defaults, read from the dataclass (docs/serving.md explains them)."""
    import dataclasses
    import textwrap

    from ..serving.settings import ServerSettings

    defaults = ServerSettings()
    shown = " ".join(
        f"{f.name}={getattr(defaults, f.name)}"
        for f in dataclasses.fields(ServerSettings)
        if f.name not in ("api_key", "media")
    )
    shown += " " + " ".join(
        f"media.{f.name}={getattr(defaults.media, f.name)}" for f in dataclasses.fields(defaults.media)
    )
    return (
        "server settings (limits, batching, input policy; see docs/serving.md), set with --set, e.g.\n"
        "  --set max_wait_ms=2 --set max_queue_items=4096 --set media.max_frames=20000\n"
        + textwrap.fill(shown, 100, initial_indent="  ", subsequent_indent="  ")
        + "\nThe flags above win over the same fields given with --config/--set."
    )


def model_name(args) -> str:
    """What `/v1/models` lists: --model-name, else the folder's name or hub id, else mme5-tiny."""
    if args.model_name:
        return args.model_name
    return "mme5-tiny" if args.model is None else _name_of(args.model)


def _name_of(model: str) -> str:
    """A folder's name, or the hub id as given."""
    from pathlib import Path

    path = Path(model)
    return path.resolve().name if path.is_dir() else str(model)


def settings_from_args(args) -> ServerSettings:
    """ServerSettings from --config, then --set, then the explicit flags (which win when given)."""
    from dataclasses import replace

    from ..serving.settings import ServerSettings

    settings = config_from_args(ServerSettings, args)
    flags = {
        "model_name": args.model_name
        or (None if settings.model_name != ServerSettings.model_name else model_name(args)),
        "image_root": args.image_root,
        "allow_remote_images": args.allow_remote_images,
        "api_key": args.api_key or None,
        "max_batch_size": args.batch_size,
        "nprobe": args.nprobe,
        "ef_search": args.ef_search,
        "allow_untrained_dims": args.allow_untrained_dims,
    }
    return replace(settings, **{k: v for k, v in flags.items() if v is not None})


def run(args) -> int:
    from dataclasses import replace

    import uvicorn

    from ..index.search import VectorIndex
    from ..quantize import trained_dims
    from ..serving import create_app
    from ..serving.inputs import InputPolicy

    settings = settings_from_args(args)
    InputPolicy.from_settings(settings)  # a bad --image-root fails now, not after loading the model
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    index = VectorIndex.load(args.index) if args.index else None
    # with --index and no --model: the model index.json records (the one whose vectors it holds)
    embedder = load_for_index(index, args) if index is not None else embedder_from_args(args)
    recorded = index.info.get("model", {}) if index is not None and args.model is None else {}
    if recorded.get("name") and settings.model_name == model_name(args):  # not named by --model-name/--set
        settings = replace(settings, model_name=recorded["name"])
    trained = trained_dims(
        [args.adapter, args.model or (recorded.get("path") if index is not None else None)], embedder.dim
    )
    reranker = None
    if args.reranker:
        from ..serving.rerank import RerankService

        name = args.reranker_name or _name_of(args.reranker)
        reranker = RerankService(reranker_from_args(args), name, settings.max_batch_size)
    app = create_app(embedder, replace(settings, trained_dims=trained), index, reranker)
    if args.model is None and (index is None or recorded.get("path") is None):
        print("model: embedded tiny Mllama with RANDOM weights (vectors are not meaningful; pass --model)")
    search = f", /v1/search over {len(index)} items" if index is not None else ""
    search += f", /v1/rerank with {reranker.name!r}" if reranker is not None else ""
    print(
        f"serving {settings.model_name!r} ({embedder.backbone.name}, dim {embedder.dim}{search}) "
        f"on http://{args.host}:{args.port}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
