"""Prometheus metrics, one registry per app (no process-global state, so several apps can coexist)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Forward batches are counted in items; powers of two show whether batching happens at all.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Requests by endpoint and status, request latency, items, forward batch sizes and time, queue depth;
    the reranker's pairs, forwards and time per request."""

    CONTENT_TYPE = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mme5_requests", "HTTP requests by endpoint and status code", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "mme5_request_latency_seconds",
            "Request latency (receive to response)",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.items = Counter("mme5_items_embedded", "Items embedded by the model", registry=r)
        self.batch_size = Histogram(
            "mme5_batch_size_items", "Items per model forward batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.forward_seconds = Histogram(
            "mme5_forward_seconds", "Wall time of one batched encode", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_items = Gauge("mme5_queue_items", "Items waiting for the batching worker", registry=r)
        self.rerank_pairs = Counter("mme5_rerank_pairs", "(query, document) pairs scored by the reranker", registry=r)
        self.rerank_forwards = Counter(
            "mme5_rerank_forwards", "Reranker forwards (pairs / forwards: how well requests batch)", registry=r
        )
        self.rerank_seconds = Histogram(
            "mme5_rerank_seconds", "Wall time of one request's reranking", buckets=LATENCY_BUCKETS, registry=r
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's metrics."""
        return generate_latest(self.registry)
