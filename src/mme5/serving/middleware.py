"""Pure ASGI middlewares (no BaseHTTPMiddleware: it would hide client disconnects from the routes)."""

from __future__ import annotations

import time

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics


def error_body(status: int, message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    """The OpenAI error shape every refusal uses."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413 before any parsing.

    Checks Content-Length when given and counts the bytes actually received (chunked uploads or a
    lying header), then replays the buffered body to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(scope, receive, send, int(declared))
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its body
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return await self._reject(scope, receive, send, len(body))
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # afterwards: http.disconnect, which routes watch for

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        message = f"request body is {size} bytes or more; this server accepts at most {self.max_bytes} bytes"
        response = JSONResponse(error_body(413, message, "invalid_request_error", "request_too_large"), status_code=413)
        await response(scope, receive, send)


class MetricsMiddleware:
    """Count requests by endpoint and status and observe their latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics, endpoints: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints  # known paths only: arbitrary paths would explode label cardinality

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        status = 499  # stays so if the client disconnects before a response starts
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            status = 500
            raise
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
