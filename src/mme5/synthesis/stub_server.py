"""A STAND-IN for a remote OpenAI-compatible chat-completions API, for tests and benchmarks.

A real HTTP server on loopback (stdlib `ThreadingHTTPServer`, HTTP/1.1 keep-alive) that
speaks the protocol; what it answers is scripted by a `responder(request_body) -> StubReply`.
The default responder fills the request's JSON schema (from `response_format`) with valid
English values after a fixed latency, which is what `benchmarks/synthesis.py` measures against.
Run alone: `python -m mme5.synthesis.stub_server --latency 0.5` prints its base URL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ("red", "small", "quiet", "bright", "wooden", "round", "old", "busy", "green", "tall", "soft", "open")


@dataclass
class StubReply:
    status: int = 200
    content: str | None = None
    """Assistant message text (status 200); None with `body` for a raw reply."""
    body: str | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    usage: tuple[int, int] = (100, 50)


Responder = Callable[[dict[str, Any]], StubReply]


def fill_schema(schema: dict[str, Any], serial: int, text: Callable[[str, int], str] | None = None) -> Any:
    """A value valid for `schema` (objects, arrays, enums, strings); strings are distinct per
    `serial` and field so replies never look like near-duplicates. `text(field, serial)` can
    supply the strings (e.g. in a requested language)."""
    defs = schema.get("$defs", {})
    make = text or (
        lambda name, n: f"A {WORDS[n % 12]} {name.replace('_', ' ')} with {WORDS[n // 12 % 12]} details, case {n}."
    )

    def value(node: dict[str, Any], name: str) -> Any:
        if "$ref" in node:
            return value(defs[node["$ref"].split("/")[-1]], name)
        if "enum" in node:
            return node["enum"][-1]
        kind = node.get("type")
        if kind == "object":
            return {k: value(v, k) for k, v in node.get("properties", {}).items()}
        if kind == "array":
            return [value(node["items"], name) for _ in range(max(1, node.get("minItems", 1)))]
        if kind == "integer":
            return node.get("minimum", 1)
        return make(name, serial)

    return value(schema, "root")


def schema_responder(latency_s: float = 0.0) -> Responder:
    """Valid English replies to whatever schema the request carries, after `latency_s`."""
    counter = itertools.count()
    lock = threading.Lock()

    def respond(request: dict[str, Any]) -> StubReply:
        with lock:
            serial = next(counter)
        schema = request["response_format"]["json_schema"]["schema"]
        return StubReply(content=json.dumps(fill_schema(schema, serial)), delay_s=latency_s)

    return respond


def completion(content: str, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """A chat-completions response body."""
    return {
        "id": f"chatcmpl-stub-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


class _Server(ThreadingHTTPServer):
    # the stdlib default listen backlog is 5: 64 clients connecting at once would see dropped
    # SYNs and 1 s retransmits; real servers (uvicorn, vLLM) use 2048
    request_queue_size = 1024
    daemon_threads = True


class StubChatServer:
    """`with StubChatServer(responder) as server: server.base_url` -> "http://127.0.0.1:PORT/v1"."""

    def __init__(self, responder: Responder, host: str = "127.0.0.1", port: int = 0) -> None:
        self.responder = responder
        self.requests = 0
        self._count_lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):  # a client went away (killed, timed out)
                    pass

            def do_GET(self) -> None:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                try:
                    request = json.loads(raw)
                except json.JSONDecodeError:  # e.g. a client killed mid-request
                    return self._send(400, json.dumps({"error": {"message": "body is not JSON"}}))
                with outer._count_lock:
                    outer.requests += 1
                reply = outer.responder(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.body is not None:
                    body = reply.body
                elif reply.status == 200:
                    body = json.dumps(completion(reply.content or "", request.get("model", "stub"), reply.usage))
                else:
                    body = json.dumps({"error": {"message": f"scripted error {reply.status}"}})
                self._send(reply.status, body, reply.headers)

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.httpd = _Server((host, port), Handler)
        self.base_url = f"http://{host}:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StubChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with StubChatServer(schema_responder(args.latency), port=args.port) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
