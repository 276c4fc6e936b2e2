"""Helpers for synthesis tests: a scripted stand-in for a remote chat-completions API (a real
HTTP server on loopback) and run configs that need no model (pixel neighbours)."""
from __future__ import annotations

import base64
import json
import re
import threading
from collections import Counter
from pathlib import Path

import pytest

from mme5.config import load_config
from mme5.synthesis.config import SynthesisConfig
from mme5.synthesis.plan import MODALITIES
from mme5.synthesis.runner import SEED_STRIDE  # request seed = seed * 1_000_003 + plan_index * 31 + attempt
from mme5.synthesis.schema import image_roles
from fixtures.stub_server import StubReply, fill_schema

PHRASES = {
    "en": ("a dog runs on the beach at sunset", "two people ride bicycles in a busy street",
           "a plate of apples and oranges on a wooden table"),
    "de": ("ein Hund rennt bei Sonnenuntergang am Strand", "zwei Menschen fahren Fahrrad in einer belebten Straße",
           "ein Teller mit Äpfeln und Orangen auf einem Holztisch"),
    "fr": ("un chien court sur la plage au coucher du soleil", "deux personnes font du vélo dans une rue animée",
           "une assiette de pommes et d'oranges sur une table en bois"),
    "es": ("un perro corre por la playa al atardecer", "dos personas van en bicicleta por una calle concurrida",
           "un plato de manzanas y naranjas sobre una mesa de madera"),
    "ru": ("собака бежит по пляжу на закате",
           "два человека едут на велосипедах по оживлённой улице",
           "тарелка яблок и апельсинов на деревянном столе"),
}
LANGUAGES = {code: 1 for code in PHRASES}
INSTRUCTION = "Find the text that best answers the query about the picture."


def sample_of(request: dict) -> tuple[int, int, str, str]:
    """(plan index, attempt, language, modality) of a request, read from its seed and prompt."""
    seed = request["seed"]
    text = " ".join(p["text"] for p in request["messages"][1]["content"] if p["type"] == "text")
    language = re.search(r"Target language for query and target texts: .*? \[(\w+)\]", text).group(1)
    modality = re.search(r"Task family: [A-Z ]+ \((\w+)\)", text).group(1)
    return seed // SEED_STRIDE, seed % SEED_STRIDE, language, modality


def good_content(request: dict, language: str | None = None) -> str:
    """A valid reply for the request, texts in `language` (default: the requested one)."""
    index, attempt, requested, modality = sample_of(request)
    phrases = PHRASES[language or requested]
    pick = {"query_text": phrases[0], "positive_text": phrases[1], "negative_text": phrases[2]}

    def text(field: str, serial: int) -> str:
        if field == "instruction":
            return INSTRUCTION
        return f"{pick.get(field, phrases[0])} {index}"

    schema = request["response_format"]["json_schema"]["schema"]
    return json.dumps(fill_schema(schema, index, text), ensure_ascii=False)


class ScriptedAPI:
    """Scripts replies by plan index (from the request seed), so outcomes are deterministic
    whatever the arrival order: index % 10 ==
      1: malformed JSON on the first attempt, then good        -> kept
      2: malformed JSON always                                  -> failed (invalid_json)
      3: 429 + Retry-After once, then good                      -> kept, 1 transport retry
      4: 500 twice, then good                                   -> kept, 2 transport retries
      5: no reply before the client's timeout once, then good   -> kept, 1 transport retry
      6: texts in the wrong language always                     -> failed (wrong_language)
      7: 500 always                                             -> failed (http_500)
      else: good."""

    FAILING = {2: "invalid_json", 6: "wrong_language", 7: "http_500"}

    def __init__(self, timeout_delay: float = 2.5, latency: float = 0.0) -> None:
        self.calls: Counter = Counter()
        self.lock = threading.Lock()
        self.timeout_delay = timeout_delay
        self.latency = latency
        self.images_checked = 0

    def __call__(self, request: dict) -> StubReply:
        index, attempt, language, modality = sample_of(request)
        with self.lock:
            self.calls[(index, attempt)] += 1
            call = self.calls[(index, attempt)]
        self._check_images(request, modality)
        case = index % 10
        if case == 1 and attempt == 0 or case == 2:
            return StubReply(content='{"descriptions": {"query_image": ', delay_s=self.latency)
        if case == 3 and call == 1:
            return StubReply(status=429, headers={"Retry-After": "0"})
        if case == 4 and call <= 2 or case == 7:
            return StubReply(status=500)
        if case == 5 and call == 1:
            return StubReply(content=good_content(request), delay_s=self.timeout_delay)
        if case == 6:
            return StubReply(content=good_content(request, "ru" if language != "ru" else "de"))
        return StubReply(content=good_content(request), delay_s=self.latency, usage=(1000 + index, 200))

    def _check_images(self, request: dict, modality: str) -> None:
        parts = [p for p in request["messages"][1]["content"] if p["type"] == "image_url"]
        assert len(parts) == len(image_roles(MODALITIES[modality]))
        for part in parts:
            header, data = part["image_url"]["url"].split(",", 1)
            assert header == "data:image/png;base64" and base64.b64decode(data)[:4] == b"\x89PNG"
        with self.lock:
            self.images_checked += len(parts)

    @classmethod
    def expected(cls, n: int) -> tuple[int, Counter]:
        """Plan indices a run of `n` kept samples uses (a prefix) and its final failure reasons."""
        kept, index, failures = 0, 0, Counter()
        while kept < n:
            reason = cls.FAILING.get(index % 10)
            if reason:
                failures[reason] += 1
            else:
                kept += 1
            index += 1
        return index, failures


def api_config(out: Path, base_urls: list[str], n: int, **extra: str) -> SynthesisConfig:
    overrides = {
        "num_samples": n,
        "plan.task_weights": {"classification": 1, "vqa": 1, "retrieval": 2},
        "plan.modality_weights": {"retrieval": {"T2I": 1, "IT2IT": 1, "I2T": 1, "IT2I": 1}},
        "plan.language_weights": LANGUAGES,
        "pool.generate": 24,
        "neighbours.encoder": "pixels",
        "neighbours.positive_ranks": [1, 2],
        "neighbours.negative_ranks": [4, 8],
        "backend.kind": "openai",
        "backend.openai.model": "stub-mllm",
        "backend.openai.base_urls": base_urls,
        "backend.openai.api_key_env": None,
        "backend.openai.concurrency": 8,
        "backend.openai.timeout_s": 2.0,  # generous: only the scripted case-5 reply may time out
        "backend.openai.max_retries": 2,
        "backend.openai.backoff_s": 0.01,
        "backend.openai.backoff_max_s": 0.05,
        "backend.openai.price_input_per_million": 2.5,
        "backend.openai.price_output_per_million": 10.0,
        "validation.max_attempts": 2,
        "output.dir": str(out),
        "output.shard_size": 7,
        **extra,
    }
    return load_config(SynthesisConfig, None, [f"{k}={json.dumps(v)}" for k, v in overrides.items()])


@pytest.fixture
def scripted():
    return ScriptedAPI()
