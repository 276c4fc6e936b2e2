"""Dynamic batching: requests wait in a bounded queue; one worker groups them into forward batches.

The model runs in a single dedicated thread, so the event loop keeps accepting, validating and
answering requests while a batch is encoded. A request that times out or whose client goes away
is cancelled: the worker skips it if it is still queued and drops its result if it is not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..types import Item
from .errors import RequestError
from .metrics import Metrics

log = logging.getLogger(__name__)

# encode(items) -> arrays with one row per item (e.g. vectors (n, dim) and token counts (n,))
EncodeFn = Callable[[list[Item]], Sequence[np.ndarray]]


@dataclass
class _Job:
    items: list[Item]
    future: asyncio.Future


class DynamicBatcher:
    """Bounded queue + one batching worker around a blocking `encode` function."""

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue_items: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._encode = encode
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue_items = max_queue_items
        self._metrics = metrics or Metrics()
        self._queue: deque[_Job] = deque()
        self._queued_items = 0
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._incoming = 0  # requests being parsed that will call submit shortly
        self._forward_seconds = 0.5  # running estimate, only for Retry-After

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mme5-encode")
        self._worker = asyncio.create_task(self._run(), name="mme5-batcher")

    async def stop(self) -> None:
        """Stop the worker and answer everything still queued with 503."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(RequestError(503, "the server is shutting down"))
        self._queued_items = 0
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    @contextmanager
    def receiving(self) -> Iterator[None]:
        """Mark a request as on its way to `submit` (being parsed/decoded): the worker waits up to
        max_wait for such requests only, so a lone request is never delayed."""
        self._incoming += 1
        try:
            yield
        finally:
            self._incoming -= 1

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    @property
    def queued_items(self) -> int:
        return self._queued_items

    # ---- submitting -----------------------------------------------------------------------
    async def submit(self, items: list[Item], timeout_s: float) -> tuple[np.ndarray, ...]:
        """Queue `items` and wait for their rows; raises RequestError 429 (queue full) / 504 (timeout)."""
        if not self.running:
            raise RequestError(503, "the embedding worker is not running", headers={"Retry-After": "1"})
        if self._queued_items + len(items) > self.max_queue_items:
            retry = max(1, round(self._forward_seconds * (self._queued_items / self.max_batch_size + 1)))
            raise RequestError(
                429,
                f"the server is busy: {self._queued_items} items queued (limit {self.max_queue_items}); "
                f"retry after {retry} s",
                code="queue_full",
                headers={"Retry-After": str(retry)},
            )
        job = _Job(items, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._queued_items += len(items)
        self._metrics.queue_items.set(self._queued_items)
        self._arrived.set()
        try:
            # wait_for cancels the future on timeout (and when the caller is cancelled), which
            # tells the worker to skip or drop this job
            return await asyncio.wait_for(job.future, timeout_s)
        except asyncio.TimeoutError:  # TimeoutError itself only from 3.11 on
            raise RequestError(
                504,
                f"no result within the request timeout of {timeout_s:g} s "
                "(queue wait + encoding); retry, or start the server with a larger --set request_timeout_s=...",
                code="timeout",
            ) from None

    # ---- the worker -----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            jobs = await self._collect()
            if jobs:
                await self._process(jobs)

    def _pop(self) -> _Job:
        job = self._queue.popleft()
        self._queued_items -= len(job.items)
        self._metrics.queue_items.set(self._queued_items)
        return job

    async def _collect(self) -> list[_Job]:
        """Whole requests, oldest first, up to max_batch_size items; waits at most max_wait, and only
        while other requests are being received."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        jobs: list[_Job] = []
        size = 0
        while True:
            while self._queue and (not jobs or size + len(self._queue[0].items) <= self.max_batch_size):
                job = self._pop()
                if job.future.done():  # timed out or abandoned while queued
                    continue
                jobs.append(job)
                size += len(job.items)
            if size >= self.max_batch_size or (jobs and self._queue):  # full, or the next one does not fit
                return jobs
            if jobs and not self._incoming:  # nothing else is on its way: waiting would only add latency
                return jobs
            remaining = deadline - loop.time()
            if remaining <= 0:
                return jobs
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:  # TimeoutError itself only from 3.11 on
                return jobs

    async def _process(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            rows = await loop.run_in_executor(self._executor, self._encode, items)
        except Exception as exc:
            if len(jobs) > 1:
                # one bad request must not fail its batch neighbours: retry them one by one
                for job in jobs:
                    if not job.future.done():
                        await self._process([job])
                return
            if not jobs[0].future.done():
                jobs[0].future.set_exception(exc)
            return
        elapsed = time.perf_counter() - start
        self._forward_seconds = 0.8 * self._forward_seconds + 0.2 * elapsed
        self._metrics.forward_seconds.observe(elapsed)
        self._metrics.batch_size.observe(len(items))
        self._metrics.items.inc(len(items))
        offset = 0
        for job in jobs:
            n = len(job.items)
            if not job.future.done():
                job.future.set_result(tuple(r[offset : offset + n] for r in rows))
            offset += n
