"""Dynamic batching: bounded queue (429 + Retry-After), timeouts, disconnects, no crossed responses."""
from __future__ import annotations

import asyncio
import threading
import time

import httpx
import numpy as np
import pytest

from mme5.serving.batcher import DynamicBatcher
from mme5.serving.errors import RequestError
from mme5.types import Item

from .conftest import running_server


class GatedEmbedder:
    """The real Embedder, but the server's encode call first waits for the test to open a gate:
    it holds the worker busy so the queue fills deterministically."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.encoded: list[int] = []

    def encode_with_usage(self, items, batch_size=16):
        self.entered.set()
        assert self.gate.wait(60), "test never opened the gate"
        self.encoded.append(len(items))
        return self.inner.encode_with_usage(items, batch_size=batch_size)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def gated_server(embedder, **settings):
    from mme5.serving import ServerSettings, create_app

    gated = GatedEmbedder(embedder)
    return gated, running_server(create_app(gated, ServerSettings(**settings)))


def vector(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array(response.json()["data"][0]["embedding"], dtype=np.float32)


def test_queue_full_gives_429_and_no_lost_or_crossed_responses(embedder):
    gated, server = gated_server(embedder, max_batch_size=4, max_wait_ms=0, max_queue_items=8, max_items=4)
    texts = [f"request {i} " + "word " * i for i in range(12)]
    with server as url:
        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                first = asyncio.create_task(client.post("/v1/embeddings", json={"input": "holds the worker"}))
                await asyncio.to_thread(gated.entered.wait, 30)  # the worker is now busy with `first`
                tasks = [asyncio.create_task(client.post("/v1/embeddings", json={"input": t})) for t in texts]
                # 8 fit in the queue; the other 4 are refused at once, while the gate is still closed
                while sum(t.done() for t in tasks) < 4:
                    await asyncio.sleep(0.01)
                assert sum(t.done() for t in tasks) == 4
                gated.gate.set()
                return await first, await asyncio.gather(*tasks)

        first, responses = asyncio.run(scenario())
    assert first.status_code == 200
    refused = [r for r in responses if r.status_code == 429]
    served = [(t, r) for t, r in zip(texts, responses) if r.status_code == 200]
    assert len(refused) == 4 and len(served) == 8
    for r in refused:
        assert int(r.headers["Retry-After"]) >= 1 and "busy" in r.json()["error"]["message"]
    for text, response in served:  # each caller got the vector of its own text
        np.testing.assert_allclose(vector(response), embedder.encode([text])[0], atol=1e-5)
    assert sum(gated.encoded) == 9 and max(gated.encoded) <= 4


def test_timeout_gives_504_and_worker_recovers(embedder):
    gated, server = gated_server(embedder, request_timeout_s=0.3, max_wait_ms=0)
    with server as url:
        slow = httpx.post(f"{url}/v1/embeddings", json={"input": "stuck"}, timeout=30)
        assert slow.status_code == 504 and "timeout" in slow.json()["error"]["message"]
        gated.gate.set()
        np.testing.assert_allclose(vector(httpx.post(f"{url}/v1/embeddings", json={"input": "after"}, timeout=30)),
                                   embedder.encode(["after"])[0], atol=1e-6)


def test_client_disconnect_skips_work_and_does_not_wedge(embedder):
    gated, server = gated_server(embedder, max_wait_ms=0)
    with server as url:
        holder = threading.Thread(target=httpx.post, args=(f"{url}/v1/embeddings",),
                                  kwargs={"json": {"input": "holder"}, "timeout": 30})
        holder.start()
        assert gated.entered.wait(30)
        with pytest.raises(httpx.ReadTimeout):  # this client gives up while its request is queued
            httpx.post(f"{url}/v1/embeddings", json={"input": ["abandoned"] * 3}, timeout=0.3)
        deadline = time.monotonic() + 30  # wait until the server has seen the hang-up (recorded as 499)
        while 'status="499"' not in httpx.get(f"{url}/metrics", timeout=30).text:
            assert time.monotonic() < deadline, "the server never noticed the disconnect"
            time.sleep(0.05)
        gated.gate.set()
        holder.join(30)
        after = httpx.post(f"{url}/v1/embeddings", json={"input": "after"}, timeout=30)
        np.testing.assert_allclose(vector(after), embedder.encode(["after"])[0], atol=1e-6)
    assert gated.encoded == [1, 1], "the abandoned request was still encoded"


# ---- the batcher on its own, with a stand-in encode (only the batching logic is under test) ----

def fake_encode(calls: list[list[str]]):
    def encode(items: list[Item]):
        texts = [it.text for it in items]
        calls.append(texts)
        if "poison" in texts:
            raise ValueError("poison item")
        return (np.array([[len(t), hash(t) % 1000] for t in texts], dtype=np.float32),)

    return encode


def test_batches_respect_size_and_a_failing_request_does_not_fail_its_neighbours():
    calls: list[list[str]] = []

    async def scenario():
        batcher = DynamicBatcher(fake_encode(calls), max_batch_size=4, max_wait_s=0.05, max_queue_items=100)
        await batcher.start()
        requests = [[f"r{i}a", f"r{i}b"] if i % 2 else [f"r{i}"] for i in range(9)] + [["ok", "poison"]]
        results = await asyncio.gather(*(batcher.submit([Item(text=t) for t in r], 10) for r in requests),
                                       return_exceptions=True)
        await batcher.stop()
        return requests, results

    requests, results = asyncio.run(scenario())
    for texts, result in zip(requests, results):
        if "poison" in texts:
            assert isinstance(result, ValueError)
            continue
        expected = np.array([[len(t), hash(t) % 1000] for t in texts], dtype=np.float32)
        np.testing.assert_array_equal(result[0], expected)
    assert all(len(c) <= 4 for c in calls)
    assert any(len(c) > 2 for c in calls), "requests were never grouped"


def test_submit_after_stop_is_refused():
    async def scenario():
        batcher = DynamicBatcher(fake_encode([]), max_batch_size=4, max_wait_s=0, max_queue_items=10)
        await batcher.start()
        await batcher.stop()
        with pytest.raises(RequestError) as info:
            await batcher.submit([Item(text="late")], 1)
        return info.value

    assert asyncio.run(scenario()).status == 503
