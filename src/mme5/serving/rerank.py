"""Reranking over HTTP: `POST /v1/rerank` in the Cohere / Jina / SGLang shape, and the `rerank`
option of `/v1/search` (retrieve by vector, then rescore the first `rerank.top_k` with the reranker).

The request's query and documents pass the server's input checks (item count, image and request
pixels, text length, image policy) like `/v1/embeddings` inputs. Scoring runs on one worker
thread, so rerank requests queue behind each other and never run the reranker concurrently; each
request's pairs are batched by length (`Reranker.score_pairs`), which does not change a score.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from ..model.rerank_format import QWEN3_VL_RERANKER
from ..types import InputError, Item, parse_item
from .errors import RequestError
from .inputs import InputPolicy, to_item, to_items
from .metrics import Metrics
from .schemas import InputElement, ItemIn, SearchRerank, _Strict
from .settings import ServerSettings
from .sources import media_refusal


class RerankRequest(_Strict):
    query: str | ItemIn
    documents: list[InputElement]
    model: str | None = None
    instruction: str | None = None
    """The `<Instruct>` line (default: the query item's instruction, else the model's default)."""
    top_n: int | None = Field(default=None, ge=1)
    """Return only the best `top_n` results (default: all)."""
    return_documents: bool = False


class RerankResult(_Strict):
    index: int
    """Position of the document in the request's `documents`."""
    relevance_score: float
    """P(yes): the reranker's probability that the document meets the query, in [0, 1]."""
    document: dict[str, Any] | None = None


class RerankResponse(_Strict):
    model: str
    results: list[RerankResult]
    """Best first (ties keep the documents' order)."""


class RerankService:
    """A loaded Reranker, its served name and the single worker thread it runs on."""

    def __init__(self, reranker: Any, name: str, batch_size: int = 16) -> None:
        self.reranker, self.name, self.batch_size = reranker, name, batch_size
        self.metrics: Metrics | None = None
        """The app's metrics (set by `install_rerank`)."""
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerank")

    def check_model(self, model: str | None, param: str = "model") -> None:
        if model is not None and model != self.name:
            raise RequestError(
                404, f"reranker {model!r} is not served here; this server reranks with {self.name!r}", param=param
            )

    async def score(
        self, query: Item, documents: list[Item], instruction: str | None, names: list[str] | None = None
    ) -> np.ndarray:
        """P(yes) of every document, computed on the worker thread. A media refusal while reading
        the pairs (a video or page that breaks the server's limits only once decoded) is the 4xx
        naming the field (`documents[i].video`, `query.pdf`, ...), like a refusal at parse time."""
        names = names or [f"documents[{i}]" for i in range(len(documents))]
        pairs = [(query, d) for d in documents]
        where = [("query", name) for name in names]
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._worker, lambda: self._score(pairs, instruction, where))
        except InputError as exc:
            message = str(exc)
            fields = [f"{n}.{f}" for n in ("query", *names) for f in ("video", "pdf", "image")]
            param = next((f for f in fields if message.startswith(f + ":")), None)
            raise media_refusal(exc, param, "invalid_input") from None

    def _score(self, pairs: list, instruction: str | None, where: list[tuple[str, str]]) -> np.ndarray:
        """On the worker thread (one at a time): the scores, counted into the app's metrics."""
        forwards, started = self.reranker.padding.forwards, time.perf_counter()
        scores = self.reranker.score_pairs(pairs, instruction, batch_size=self.batch_size, where=where)
        if self.metrics is not None:
            self.metrics.rerank_pairs.inc(len(pairs))
            self.metrics.rerank_forwards.inc(self.reranker.padding.forwards - forwards)
            self.metrics.rerank_seconds.observe(time.perf_counter() - started)
        return scores


def ranked(scores: np.ndarray, top_n: int | None = None) -> list[int]:
    """Indices by score, best first; equal scores keep their input order."""
    order = np.argsort(-scores, kind="stable").tolist()
    return order[:top_n] if top_n is not None else order


def _echo(element: InputElement) -> dict[str, Any]:
    """A document as Cohere returns it: `{"text": ...}` for a string, else the item's given fields."""
    return {"text": element} if isinstance(element, str) else element.model_dump(exclude_none=True)


def install_rerank(app: FastAPI, service: RerankService, settings: ServerSettings, auth: Any, metrics: Metrics) -> None:
    """Add `POST /v1/rerank` to the app; the service counts into `metrics`."""
    service.metrics = metrics
    policy = InputPolicy.from_settings(settings)
    if service.reranker.format == QWEN3_VL_RERANKER:  # reads videos whole, as Qwen3-VL-Embedding does
        policy = replace(policy, sample_videos=False)
    service.reranker.media_policy = settings.media  # pages rendered and videos decoded under the server's limits

    @app.post("/v1/rerank", response_model=RerankResponse, dependencies=[auth])
    async def rerank(body: RerankRequest) -> JSONResponse:
        service.check_model(body.model)

        def parse() -> tuple[Item, list[Item]]:  # may decode images, frames and pages: off the event loop
            return to_item(body.query, policy, "query"), to_items(body.documents, policy, "documents")

        query, documents = await run_in_threadpool(parse)
        scores = await service.score(query, documents, body.instruction)
        results = [
            {
                "index": i,
                "relevance_score": float(scores[i]),
                **({"document": _echo(body.documents[i])} if body.return_documents else {}),
            }
            for i in ranked(scores, body.top_n)
        ]
        return JSONResponse({"model": service.name, "results": results})


async def rerank_hits(
    service: RerankService | None, options: SearchRerank, query: Item, hits: list[dict[str, Any]], info: dict
) -> list[dict[str, Any]]:
    """`/v1/search` hits (best first by cosine) with the first `options.top_k` reordered by the
    reranker; each carries `rerank_score` (the cosine stays in `score`) and its new `rank`."""
    if service is None:
        raise RequestError(
            400, "this server holds no reranker: start it with --reranker MODEL", param="rerank", code="no_reranker"
        )
    service.check_model(options.model, "rerank.model")
    head, rest = hits[: options.top_k], hits[options.top_k :]
    base = _corpus_base(info)
    items = [parse_item(h["item"], f"index row {h['index']}", base) for h in head]
    scores = await service.score(query, items, None, [f"index row {h['index']}" for h in head])
    reordered = [{**head[i], "rerank_score": float(scores[i])} for i in ranked(scores)]
    return [{**h, "rank": r} for r, h in enumerate(reordered + rest, 1)]


def _corpus_base(info: dict) -> Path | None:
    """Where the index's corpus resolves relative media paths (its folder, or the file's parent)."""
    path = info.get("corpus", {}).get("path")
    if not path:
        return None
    return Path(path) if Path(path).is_dir() else Path(path).parent
