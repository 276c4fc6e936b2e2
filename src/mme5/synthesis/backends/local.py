"""A local transformers vision-language model with schema-constrained decoding (outlines).

The reply can only be JSON that matches the modality's schema: outlines compiles the schema
into a token-level automaton once per modality (cached) and masks the logits at every step.
Generation runs in a worker thread, one request at a time (the logits processor is stateful).
An error while generating (CUDA out of memory, an outlines or processor error) fails that attempt
only, as a non-fatal `BackendError`; errors in the configuration stop the run when the backend is built.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from ...config import ConfigError
from ...types import load_image
from ..config import LocalConfig
from ..prompts import ImagePart, Prompt
from .base import BackendError, Generation

log = logging.getLogger(__name__)


class LocalBackend:
    name = "local"
    concurrency = 1

    def __init__(self, config: LocalConfig) -> None:
        import outlines

        from ...model.loading import ensure_tiny, resolve_backbone, resolve_device, resolve_dtype

        self.config = config
        path = config.model or str(ensure_tiny())
        self.backbone = resolve_backbone(path)
        self.model = config.model or "mme5-tiny-mllama (random weights)"
        device = resolve_device(config.device)
        try:
            dtype = resolve_dtype(config.dtype, device)
        except ConfigError as exc:
            raise ConfigError(f"backend.local.dtype: {exc}") from None
        self.hf_model = self.backbone.model_class().from_pretrained(path, dtype=dtype).to(device).eval()
        self.processor = self.backbone.processor_class().from_pretrained(path)
        self.tokenizer = self.processor.tokenizer
        # outlines only builds the logits processors; inputs and generate() stay ours, so images
        # are passed the way each backbone's processor wants them (nested for Mllama)
        self._outlines = outlines.from_transformers(self.hf_model, self.tokenizer)
        self._processors: dict[str, Any] = {}
        self._lock = threading.Lock()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return 0.0

    async def aclose(self) -> None:
        return None

    async def generate(self, prompt: Prompt, *, seed: int | None = None) -> Generation:
        return await asyncio.to_thread(self._generate, prompt, seed)

    def _logits_processor(self, prompt: Prompt):
        from outlines.backends import get_json_schema_logits_processor

        schema = self._schema(prompt)
        key = json.dumps(schema, sort_keys=True)
        if key not in self._processors:
            # compact JSON (no free whitespace): fewer tokens, and a small model cannot stall in spaces
            self._processors[key] = get_json_schema_logits_processor(
                "outlines_core", self._outlines, json.dumps(schema), whitespace_pattern=""
            )
        return self._processors[key]

    def _schema(self, prompt: Prompt) -> dict[str, Any]:
        if self.config.max_string_chars is None:
            return prompt.schema
        from ..schema import json_schema

        return json_schema(prompt.modality, self.config.max_string_chars)

    def render(self, prompt: Prompt) -> str:
        """The prompt text: the model's chat template when it has one, else a raw completion
        prompt with the backbone's image tokens first (base and tiny models)."""
        if getattr(self.processor, "chat_template", None):
            content = [
                {"type": "image"} if isinstance(p, ImagePart) else {"type": "text", "text": p} for p in prompt.parts
            ]
            messages = [
                {"role": "system", "content": [{"type": "text", "text": prompt.system}]},
                {"role": "user", "content": content},
            ]
            return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        texts = [p for p in prompt.parts if isinstance(p, str)]
        return self.backbone.image_text * len(prompt.images) + "\n\n".join([prompt.system, *texts]) + "\n"

    def _generate(self, prompt: Prompt, seed: int | None) -> Generation:
        images = [load_image(p.path, p.role) for p in prompt.images]  # InputError/OSError: the runner's bad_image
        with self._lock:
            try:
                return self._run(prompt, images, seed)
            except Exception as exc:  # CUDA OOM, an outlines or processor error: this attempt fails, the run goes on
                raise BackendError("generation_error", f"{type(exc).__name__}: {exc}") from exc

    def _run(self, prompt: Prompt, images: list, seed: int | None) -> Generation:
        import torch
        from transformers import LogitsProcessorList

        processor = self._logits_processor(prompt)
        processor.reset()
        kwargs: dict[str, Any] = {"text": [self.render(prompt)], "return_tensors": "pt"}
        if images:
            kwargs["images"] = [images] if self.backbone.nested_images else images
        inputs = self.processor(**kwargs).to(self.hf_model.device)
        if seed is not None:
            torch.manual_seed(seed)
        sample = self.config.temperature > 0
        with torch.no_grad():
            out = self.hf_model.generate(
                **inputs,
                logits_processor=LogitsProcessorList([processor]),
                max_new_tokens=self.config.max_new_tokens,
                do_sample=sample,
                temperature=self.config.temperature if sample else None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[0, inputs["input_ids"].shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finish = "length" if len(new) >= self.config.max_new_tokens else "stop"
        return Generation(text, int(inputs["input_ids"].shape[1]), int(len(new)), finish, endpoint="local")
