"""MLLM -> synthetic mmE5 training data: plan, image pool + neighbours, one-pass "deep thinking"
prompt, backends (OpenAI-compatible servers, local transformers), validation, resumable shards.

    from mme5.config import load_config
    from mme5.synthesis import SynthesisConfig, Synthesizer
    stats = Synthesizer(load_config(SynthesisConfig, "configs/synthesis/tiny-local.yaml")).run()
"""

from __future__ import annotations

from .config import SynthesisConfig
from .languages import XLMR_LANGUAGES
from .plan import MODALITIES, TASKS, Planner


def __getattr__(name: str):
    # the runner pulls in httpx / faiss / pydantic schemas: import it only when asked for
    if name == "Synthesizer":
        from .runner import Synthesizer

        return Synthesizer
    raise AttributeError(name)


__all__ = ["MODALITIES", "TASKS", "XLMR_LANGUAGES", "Planner", "SynthesisConfig", "Synthesizer"]
