"""OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, Ollama, ...) over httpx, async.

Images travel as base64 data URLs. Requests are spread over several base URLs (least in-flight
first; a URL that answered 429 / 5xx / nothing cools down before it gets new work), retried
with exponential backoff and jitter (or the server's Retry-After) on 429, 5xx, timeouts and
connection errors. `response_format` asks for the reply schema; a server that rejects it is
asked again with the next weaker format (json_schema -> json_object -> none).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import mimetypes
import os
import random
from dataclasses import dataclass
from typing import Any

import httpx

from ...config import ConfigError
from ..config import OpenAIConfig, ResponseFormat
from ..prompts import ImagePart, Prompt
from .base import BackendError, Generation

log = logging.getLogger(__name__)

FORMATS: tuple[ResponseFormat, ...] = ("json_schema", "json_object", "none")
FATAL_STATUS = (401, 403, 404)
CONNECTIONS_PER_CLIENT = 8


@dataclass
class Endpoint:
    url: str
    in_flight: int = 0
    sent: int = 0
    cooldown_until: float = 0.0


class OpenAIBackend:
    name = "openai"

    def __init__(self, config: OpenAIConfig) -> None:
        if not config.base_urls:
            raise ConfigError("backend.openai.base_urls is empty")
        self.config = config
        self.model = config.model
        self.concurrency = config.concurrency
        self.endpoints = [Endpoint(u.rstrip("/")) for u in config.base_urls]
        self.response_format = config.response_format
        headers = {}
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        # httpcore's pool scans all its connections for every request event (O(connections x
        # requests)); several small pools keep that cost flat at high concurrency
        n_clients = -(-config.concurrency // CONNECTIONS_PER_CLIENT)
        size = min(config.concurrency, CONNECTIONS_PER_CLIENT) + 2
        tls = httpx.create_ssl_context()  # loading the CA bundle takes ~60 ms: once, shared
        self.clients = [
            httpx.AsyncClient(
                headers=headers,
                verify=tls,
                timeout=httpx.Timeout(config.timeout_s, connect=min(30.0, config.timeout_s)),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for _ in range(n_clients)
        ]
        self._client_load = [0] * n_clients

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        c = self.config
        return (prompt_tokens * c.price_input_per_million + completion_tokens * c.price_output_per_million) / 1e6

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    def _pick(self) -> Endpoint:
        now = asyncio.get_running_loop().time()
        ready = [e for e in self.endpoints if e.cooldown_until <= now] or self.endpoints
        return min(ready, key=lambda e: (e.in_flight, e.cooldown_until, e.sent))

    def payload(self, prompt: Prompt, seed: int | None = None) -> dict[str, Any]:
        """The chat-completions request body for `prompt`."""
        content: list[dict[str, Any]] = []
        for part in prompt.parts:
            if isinstance(part, ImagePart):
                image: dict[str, Any] = {"url": data_url(part.path)}
                if self.config.image_detail:
                    image["detail"] = self.config.image_detail
                content.append({"type": "image_url", "image_url": image})
            else:
                content.append({"type": "text", "text": part})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": content}],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if seed is not None:
            body["seed"] = seed
        if self.response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": prompt.schema_name, "schema": prompt.schema, "strict": True},
            }
        elif self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    async def generate(self, prompt: Prompt, *, seed: int | None = None) -> Generation:
        body = await asyncio.to_thread(self.payload, prompt, seed)  # reading + base64 off the loop
        retries = 0
        while True:
            endpoint = self._pick()
            endpoint.in_flight += 1
            endpoint.sent += 1
            slot = self._client_load.index(min(self._client_load))
            self._client_load[slot] += 1
            retry_after = None
            try:
                response = await self.clients[slot].post(f"{endpoint.url}/chat/completions", json=body)
            except httpx.TimeoutException as exc:
                error = BackendError(
                    "timeout", f"{endpoint.url}: no reply within {self.config.timeout_s}s ({type(exc).__name__})"
                )
            except httpx.RequestError as exc:  # connection refused / reset, protocol and decoding errors
                error = BackendError("connection", f"{endpoint.url}: {type(exc).__name__}: {exc}")
            else:
                status = response.status_code
                if status == 200:
                    return _parse(response, endpoint.url, retries)
                text = response.text[:300]
                if status == 400 and self._downgrade(body, text):
                    body = await asyncio.to_thread(self.payload, prompt, seed)
                    continue
                if status in FATAL_STATUS:
                    raise BackendError(f"http_{status}", f"{endpoint.url}: {text}", fatal=True, retries=retries)
                if status != 429 and status < 500:
                    raise BackendError(f"http_{status}", f"{endpoint.url}: {text}", retries=retries)
                error = BackendError(f"http_{status}", f"{endpoint.url}: {text}")
                retry_after = _retry_after(response)
            finally:
                endpoint.in_flight -= 1
                self._client_load[slot] -= 1
            if retries >= self.config.max_retries:
                error.retries = retries
                raise error
            delay = (
                retry_after
                if retry_after is not None
                else min(self.config.backoff_max_s, self.config.backoff_s * 2**retries) * random.uniform(0.5, 1.0)
            )
            endpoint.cooldown_until = asyncio.get_running_loop().time() + delay
            retries += 1
            log.debug("retry %d in %.2fs after %s", retries, delay, error)
            await asyncio.sleep(delay)

    def _downgrade(self, body: dict[str, Any], error_text: str) -> bool:
        """A 400 about the response format `body` was sent with: resend with a weaker one. Only the
        first 400 for the current format steps all requests down; requests sent with it before
        the step (concurrent ones) are resent with the new format."""
        lowered = error_text.lower()
        about_format = any(k in lowered for k in ("response_format", "json_schema", "guided"))
        sent = (body.get("response_format") or {}).get("type", "none")
        if sent == "none" or not about_format:
            return False
        if sent == self.response_format:
            weaker = FORMATS[FORMATS.index(sent) + 1]
            log.warning("server rejected response_format=%s (%s); using %s", sent, error_text[:120], weaker)
            self.response_format = weaker
        return True


def data_url(path) -> str:
    mime = mimetypes.guess_type(str(path))[0] or "image/png"
    with open(path, "rb") as fh:
        return f"data:{mime};base64,{base64.b64encode(fh.read()).decode('ascii')}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _parse(response: httpx.Response, url: str, retries: int) -> Generation:
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        usage = data.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BackendError(
            "bad_response", f"{url}: not a chat completion ({exc!r}): {response.text[:200]}", retries=retries
        ) from None
    return Generation(
        text=text,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choice.get("finish_reason"),
        retries=retries,
        endpoint=url,
    )
