"""Server settings: one frozen record for limits, batching and input policy (CLI flags fill it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError
from ..media_policy import MediaPolicy


@dataclass(frozen=True)
class ServerSettings:
    """Everything `create_app` needs besides the model. Defaults are safe for a public port.

    Limits count what a request costs the server: bytes on the wire, items, decoded image pixels
    and characters a tokenizer must read. Batching trades a few milliseconds of waiting
    (`max_wait_ms`) for one forward over many requests.
    """

    model_name: str = "mme5"
    """The id `/v1/models` lists and `model` in a request must equal (when given)."""

    # dynamic batching
    max_batch_size: int = 32
    """Most items one forward sees; a larger single request is encoded in chunks of this size."""
    max_wait_ms: float = 5.0
    """How long the worker may hold a batch open for requests that are still being received
    (parsed, images decoded); with none on the way it starts at once, so a lone request never waits."""
    max_queue_items: int = 1024
    """Items waiting for the worker; beyond this a request is refused with 429 + Retry-After."""
    request_timeout_s: float = 30.0
    """Longest a request waits for its vectors (queue + forward) before a 504."""

    # input limits
    max_request_bytes: int = 8 * 1024 * 1024
    max_items: int = 256
    max_request_pixels: int = 64 * 1024 * 1024
    """Decoded pixels summed over a request's images, frames and pages (~4 bytes each once decoded:
    256 MiB by default), checked from the headers before any is decoded, and again as videos decode."""
    media: MediaPolicy = field(default_factory=MediaPolicy)
    """Limits on each image, video and PDF (bytes, pixels per decoded frame, frames, pages, page area,
    decode time): the same MediaPolicy, and the same defaults, as `mme5 embed` and `mme5 index build`.
    Set with `--set media.max_frames=2000`."""
    max_text_chars: int = 16384

    # input policy
    image_root: str | None = None
    """Local image paths are allowed only under this folder (after resolving symlinks); None: no paths."""
    allow_remote_images: bool = False
    """Fetch http(s) image URLs. Off by default: a server that fetches URLs can be used to reach internal hosts."""
    remote_timeout_s: float = 10.0
    api_key: str | None = None
    """If set, `/v1/*` requires `Authorization: Bearer <api_key>`."""

    # vector sizes
    trained_dims: tuple[int, ...] | None = None
    """Prefix lengths the model was trained for (its matryoshka_dims); `dimensions` must be one of them
    unless allow_untrained_dims. None: unknown (a model not trained by mme5), any length is served."""
    allow_untrained_dims: bool = False

    # search
    max_top_k: int = 100
    nprobe: int | None = None
    """IVF indexes: lists scanned per query unless a request says otherwise (None: the value the build tuned)."""
    ef_search: int | None = None
    """HNSW indexes: candidate list size per query unless a request says otherwise (None: tuned at build)."""

    def __post_init__(self) -> None:
        positive = {
            "max_batch_size": self.max_batch_size,
            "max_queue_items": self.max_queue_items,
            "request_timeout_s": self.request_timeout_s,
            "max_request_bytes": self.max_request_bytes,
            "max_items": self.max_items,
            "max_request_pixels": self.max_request_pixels,
            "max_text_chars": self.max_text_chars,
            "remote_timeout_s": self.remote_timeout_s,
            "max_top_k": self.max_top_k,
        }
        positive.update({k: v for k, v in (("nprobe", self.nprobe), ("ef_search", self.ef_search)) if v is not None})
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"ServerSettings.{name} must be > 0, got {value}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"ServerSettings.max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.max_items > self.max_queue_items:
            raise ConfigError(
                f"ServerSettings.max_items ({self.max_items}) exceeds max_queue_items "
                f"({self.max_queue_items}): such a request could never be queued"
            )
