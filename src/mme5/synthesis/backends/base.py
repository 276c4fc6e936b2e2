"""What every synthesis backend provides: one async call, prompt in, reply text + usage out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..prompts import Prompt


@dataclass
class Generation:
    """A backend's reply to one prompt."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    """"length" means the reply hit the token limit (and is probably cut off)."""
    retries: int = 0
    """Transport-level retries this reply needed (429 / 5xx / timeouts)."""
    endpoint: str = ""


class BackendError(Exception):
    """A request failed after the backend's own retries. `code` is the stats key; `fatal`
    errors (bad key, unknown model) stop the run instead of failing sample after sample."""

    def __init__(self, code: str, detail: str = "", *, fatal: bool = False, retries: int = 0) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.fatal = fatal
        self.retries = retries


class Backend(Protocol):
    """An MLLM that answers `Prompt`s; `concurrency` is how many calls may be in flight."""

    name: str
    model: str
    concurrency: int

    async def generate(self, prompt: Prompt, *, seed: int | None = None) -> Generation: ...

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float: ...

    async def aclose(self) -> None: ...
