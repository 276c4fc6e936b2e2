"""The app factory: `create_app(embedder, settings)` -> a FastAPI app serving exactly the vectors
`Embedder.encode` returns (the evaluated ones), behind dynamic batching and input checks."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from .. import quantize
from ..index.model import how_to_load
from ..index.search import RECORDED, Recorded, VectorIndex
from ..media import expand_pdfs
from ..model.profiles import get_profile
from ..quantize import truncate, untrained_dim_error
from ..types import Encoder, InputError, Item
from .batcher import DynamicBatcher
from .errors import RequestError, validation_message
from .inputs import InputPolicy, to_item, to_items
from .metrics import Metrics
from .middleware import BodyLimitMiddleware, MetricsMiddleware, error_body
from .rerank import RerankService, install_rerank, rerank_hits
from .schemas import (
    EmbeddingsRequest,
    EmbeddingsResponse,
    InputElement,
    ItemIn,
    ModelList,
    SearchRequest,
    SearchResponse,
)
from .settings import ServerSettings


class UsageEncoder(Encoder, Protocol):
    """What the server needs: an `Encoder` that also counts the tokens each item held (`usage`)."""

    def encode_with_usage(
        self,
        items: Sequence[Item | dict | str],
        batch_size: int = 16,
        *,
        show_progress: bool | None = None,
        where: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


log = logging.getLogger(__name__)
ENDPOINTS = {"/v1/embeddings", "/v1/search", "/v1/rerank", "/v1/models", "/health", "/metrics"}


class ClientGone(Exception):
    """The client closed the connection while its request waited."""


def create_app(
    embedder: UsageEncoder,
    settings: ServerSettings | None = None,
    index: VectorIndex | None = None,
    reranker: RerankService | None = None,
) -> FastAPI:
    """Build the app around a loaded Embedder (and optionally a vector index for /v1/search and a
    reranker for /v1/rerank and search's `rerank` option: mme5.serving.rerank)."""
    settings = settings or ServerSettings()
    policy = InputPolicy.from_settings(settings)
    if get_profile(getattr(embedder, "profile", None)).prepare is not None:  # the profile reads videos itself
        policy = replace(policy, sample_videos=False)
    if hasattr(embedder, "media_policy"):  # the worker renders pages and decodes videos under the server's limits
        embedder.media_policy = settings.media
    if index is not None and index.fingerprint != embedder.fingerprint:
        raise InputError(
            f"the index was built with model fingerprint {index.fingerprint!r} but the served model is "
            f"{embedder.fingerprint!r}; {how_to_load(index.info.get('model', {}))}"
        )
    metrics = Metrics()
    batcher = DynamicBatcher(
        _encode_fn(embedder, settings.max_batch_size),
        max_batch_size=settings.max_batch_size,
        max_wait_s=settings.max_wait_ms / 1000,
        max_queue_items=settings.max_queue_items,
        metrics=metrics,
    )
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="mme5 embeddings",
        lifespan=lifespan,
        description="OpenAI-style multimodal embeddings (text, image, image+text) and vector search.",
    )
    app.state.settings, app.state.batcher, app.state.metrics, app.state.index = settings, batcher, metrics, index
    _install_error_handlers(app)
    auth = Depends(_auth_dependency(settings.api_key))
    if reranker is not None:
        install_rerank(app, reranker, settings, auth, metrics)

    def check_model(model: str | None) -> None:
        if model is not None and model != settings.model_name:
            raise RequestError(
                404,
                f"model {model!r} is not served here; this server serves {settings.model_name!r}",
                param="model",
                code="model_not_found",
            )

    async def embed(request: Request, items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
        return await _unless_disconnected(request, batcher.submit(items, settings.request_timeout_s))

    @app.get("/health")
    async def health() -> JSONResponse:
        running = batcher.running
        return JSONResponse(
            {
                "status": "ok" if running else "unavailable",
                "model": settings.model_name,
                "queue_items": batcher.queued_items,
                "index_size": len(index) if index else None,
            },
            status_code=200 if running else 503,
        )

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=Metrics.CONTENT_TYPE)

    @app.get("/v1/models", response_model=ModelList, dependencies=[auth])
    async def models() -> dict:
        card = {
            "id": settings.model_name,
            "object": "model",
            "created": created,
            "owned_by": "mme5",
            "dimensions": embedder.dim,
            "backbone": embedder.backbone.name,
            "fingerprint": embedder.fingerprint,
        }
        return {"object": "list", "data": [card]}

    @app.post("/v1/embeddings", response_model=EmbeddingsResponse, dependencies=[auth])
    async def embeddings(body: EmbeddingsRequest, request: Request) -> Response:
        check_model(body.model)
        check_formats(body)
        if body.dimensions is not None:
            error = untrained_dim_error(body.dimensions, settings.trained_dims, embedder.dim)
            if error and (body.dimensions > embedder.dim or not settings.allow_untrained_dims):
                hint = "" if body.dimensions > embedder.dim else " (the server allows it with --allow-untrained-dims)"
                raise RequestError(400, f"dimensions={error}{hint}", param="dimensions")
        single = not isinstance(body.input, list)
        elements: list[InputElement] = body.input if isinstance(body.input, list) else [body.input]

        def parse() -> list[tuple[int, int | None, Item]]:  # (input index, PDF page or None, item)
            items = [to_item(elements[0], policy, "input")] if single else to_items(elements, policy)
            return expand_pdfs(items, policy=policy.media)

        # decoding (or fetching) images, frames and pages runs off the event loop; checking texts is cheap
        images = any(isinstance(e, ItemIn) and (e.image or e.video or e.pdf) for e in elements)
        with batcher.receiving():
            rows = await run_in_threadpool(parse) if images else parse()
        vectors, tokens = await embed(request, [item for _, _, item in rows])
        if body.dimensions is not None:
            vectors = truncate(vectors, body.dimensions)
        data = [
            {
                "object": "embedding",
                "index": i,
                **({"page": page} if page is not None else {}),
                **payload,
            }
            for (i, page, _), payload in zip(rows, encoded_rows(vectors, body))
        ]
        used = int(tokens.sum())
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": settings.model_name,
                "usage": {"prompt_tokens": used, "total_tokens": used},
            }
        )

    @app.post("/v1/search", response_model=SearchResponse, dependencies=[auth])
    async def search(body: SearchRequest, request: Request) -> Response:
        check_model(body.model)
        if index is None:
            raise RequestError(
                404,
                "no index is loaded: start the server with --index DIR (build one with `mme5 index build`)",
                code="no_index",
            )
        for name, k in (("top_k", body.top_k), ("rerank.top_k", body.rerank.top_k if body.rerank else 0)):
            if k > settings.max_top_k:
                raise RequestError(400, f"{name}={k} exceeds this server's limit of {settings.max_top_k}", param=name)
        with batcher.receiving():
            query = await run_in_threadpool(_one_query, body.query, policy)  # may decode an image or render a page
        item = index.query_item(query, _query_instruction(body.query))  # the embedder's query instruction
        vectors, _ = await embed(request, [item])
        knobs = {"nprobe": body.nprobe, "ef_search": body.ef_search}  # one for another index type is a 400
        if index.knob is not None and knobs[index.knob] is None:
            knobs[index.knob] = getattr(settings, index.knob)  # the server's --nprobe / --ef-search, if set
        k = max(body.top_k, body.rerank.top_k) if body.rerank else body.top_k
        hits = (await run_in_threadpool(index.search, vectors, k, **knobs))[0]
        data = [
            {
                "rank": rank,
                "index": h.index,
                "score": h.score,
                "id": index.records[h.index]["id"],
                "item": index.records[h.index]["item"],
                "meta": index.records[h.index]["meta"],
            }
            for rank, h in enumerate(hits, 1)
        ]
        if body.rerank is not None:
            # the reranker reads the query as sent: its own instruction, not the embedder's
            data = (await rerank_hits(reranker, body.rerank, query, data, index.info))[: body.top_k]
        return JSONResponse({"object": "list", "data": data, "model": settings.model_name})

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=ENDPOINTS)  # outermost: counts 413s too
    return app


def _query_instruction(query: str | ItemIn) -> str | None | Recorded:
    """The request's choice of query instruction: one it names, none (`"instruction": null`), or
    (field absent, or a plain-string query) the one the index records."""
    if isinstance(query, ItemIn) and "instruction" in query.model_fields_set:
        return query.instruction
    return RECORDED


def _one_query(query: str | ItemIn, policy: InputPolicy) -> Item:
    """A search query is one item: a PDF query must have exactly one page."""
    rows = expand_pdfs([to_item(query, policy, "query")], ["query.pdf"], policy.media)
    if len(rows) != 1:
        raise RequestError(
            400, f"query.pdf has {len(rows)} pages; a search query is one item: send one page", param="query.pdf"
        )
    return rows[0][2]


def check_formats(body: EmbeddingsRequest) -> None:
    if body.embedding_types and body.encoding_format not in ("float", "base64"):
        raise RequestError(
            400,
            f"encoding_format={body.encoding_format!r} with embedding_types: give the types in embedding_types "
            "and encoding_format float (lists) or base64 (each type's bytes)",
            param="encoding_format",
        )


def encoded_rows(vectors: np.ndarray, body: EmbeddingsRequest) -> list[dict[str, Any]]:
    """Each row's `embedding` (encoding_format) or `embeddings` (one entry per embedding_types)."""
    as_base64 = body.encoding_format == "base64"
    if not body.embedding_types:
        fmt = "float" if as_base64 else body.encoding_format
        return [{"embedding": v} for v in _encoded(vectors, fmt, as_base64)]
    by_type = {t: _encoded(vectors, t, as_base64) for t in body.embedding_types}
    return [{"embeddings": {t: values[r] for t, values in by_type.items()}} for r in range(len(vectors))]


def _encoded(vectors: np.ndarray, fmt: str, as_base64: bool) -> list[Any]:
    """int8 / uint8 use the fixed ranges of `Int8Codec.fixed` (one request at a time: no calibration)."""
    rows = quantize.encode(vectors, fmt)
    return [quantize.to_base64(r) for r in rows] if as_base64 else rows.tolist()


def _encode_fn(embedder: UsageEncoder, batch_size: int) -> Callable[[list[Item]], tuple[np.ndarray, np.ndarray]]:
    """The worker's blocking call: Embedder.encode itself, plus each item's token count for
    `usage` (what the model read, image tokens included)."""

    def encode(items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
        return embedder.encode_with_usage(items, batch_size=batch_size)

    return encode


async def _unless_disconnected(request: Request, waiting: Awaitable[Any]) -> Any:
    """Await `waiting`, but give up (and cancel it, so the worker skips it) if the client leaves."""
    task = asyncio.ensure_future(waiting)

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        raise ClientGone()
    return task.result()


def _auth_dependency(api_key: str | None):
    async def check(authorization: str | None = Header(default=None)) -> None:
        if api_key is None:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise RequestError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def _install_error_handlers(app: FastAPI) -> None:
    """Every refusal in the OpenAI error shape, with a message that says what to fix."""

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.message, exc.type, exc.code, exc.param),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = validation_message(list(exc.errors()))
        return JSONResponse(
            error_body(400, message, "invalid_request_error", "invalid_request", param), status_code=400
        )

    @app.exception_handler(InputError)
    async def input_error(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(error_body(400, str(exc), "invalid_request_error", "invalid_input"), status_code=400)

    @app.exception_handler(ClientGone)
    async def client_gone(_: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nginx's "client closed request"; nobody receives it

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail), "invalid_request_error"),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving a request")
        return JSONResponse(error_body(500, f"internal error: {type(exc).__name__}", "server_error"), status_code=500)
