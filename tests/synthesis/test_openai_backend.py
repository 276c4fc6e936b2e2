"""The OpenAI-compatible backend against a real HTTP server on loopback (a scripted stand-in for
a remote chat-completions API): counts, retries, rejection reasons, balancing over several base
URLs, response-format fallback, and a fatal error stopping the run cleanly."""
from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from mme5.data.sources import load_examples
from mme5.synthesis.backends import BackendError
from mme5.synthesis.runner import Synthesizer
from mme5.synthesis.schema import json_schema
from fixtures.stub_server import StubChatServer, StubReply, fill_schema

from .conftest import INSTRUCTION, PHRASES, ScriptedAPI, api_config, good_content, sample_of

N = 24


def read_rows(folder):
    return [json.loads(line) for path in sorted(folder.glob("shard-*")) for line in path.read_text().splitlines()]


def test_scripted_server_counts_retries_and_reasons(tmp_path, scripted):
    with StubChatServer(scripted) as a, StubChatServer(scripted) as b:
        config = api_config(tmp_path / "run", [a.base_url, b.base_url], N)
        stats = Synthesizer(config, progress=False).run()
        requests = (a.requests, b.requests)
    used, failures = ScriptedAPI.expected(N)
    assert stats["accepted"] == N and stats["failed"] == sum(failures.values())
    assert stats["rejections"] == dict(failures)
    kept, failed = read_rows(tmp_path / "run" / "data"), read_rows(tmp_path / "run" / "failed")
    assert sorted(r["plan_index"] for r in kept + failed) == list(range(used))  # each index once, a prefix
    assert len({r["id"] for r in kept}) == N
    # every kept row: the requested language, English instruction, the sample's own index
    for row in kept:
        assert row["instruction"] == INSTRUCTION and row["qry"].endswith("\n")
        assert row["plan_index"] % 10 not in ScriptedAPI.FAILING
        if row["modality"] != "I2T":
            assert any(p in row["qry"] for p in PHRASES[row["language"]])
        assert row["backend"] == "openai" and row["model"] == "stub-mllm" and row["prompt_version"] == "v1"
    # transport retries: 429 once, 500 twice, a timeout once; 500-always = 2 retries x 2 attempts
    cases = Counter(i % 10 for i in range(used))
    assert stats["transport_retries"] == cases[3] + 2 * cases[4] + cases[5] + 4 * cases[7]
    by_index = {r["plan_index"]: r for r in kept + failed}
    assert all(by_index[i]["retries"] == 2 for i in by_index if i % 10 == 4)
    assert all(by_index[i]["attempts"] == 2 and "invalid_json" in by_index[i]["attempt_errors"]
               for i in by_index if i % 10 == 1)
    assert stats["rejected_attempts"]["invalid_json"] == cases[1] + 2 * cases[2]
    assert "http_500" in by_index[7]["reason"] and "wrong_language: requested" in by_index[6]["reason"]
    # tokens and cost: the usage of every reply received, kept or rejected (those report 100 / 50)
    rejected_replies = cases[1] + 2 * cases[2] + 2 * cases[6]
    prompt_tokens = sum(1000 + r["plan_index"] for r in kept) + 100 * rejected_replies
    completion_tokens = 200 * N + 50 * rejected_replies
    assert stats["tokens"] == {"prompt": prompt_tokens, "completion": completion_tokens}
    assert stats["cost_usd"] == pytest.approx((prompt_tokens * 2.5 + completion_tokens * 10.0) / 1e6)
    assert min(requests) >= 0.3 * sum(requests)  # both base URLs served
    assert scripted.images_checked > 0
    assert sum(stats["by_task"].values()) == N and set(stats["by_language"]) <= set(PHRASES)
    # the output loads as training data unchanged
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    examples = load_examples(tmp_path / "run" / "data", image_root=manifest["image_root"], negative_ratio=1)
    assert len(examples) == N and all(len(e.hard_negatives) == 1 for e in examples)
    # running again: already complete, nothing is requested
    with StubChatServer(scripted) as c:
        again = Synthesizer(api_config(tmp_path / "run", [c.base_url], N), progress=False).run()
        assert c.requests == 0 and again["accepted"] == N


@pytest.mark.parametrize("concurrency", [1, 8])
def test_response_format_fallback(tmp_path, concurrency):
    """A server that rejects json_schema: the format steps down once, to json_object, even when
    `concurrency` requests sent with json_schema are all rejected; the 400s cost no attempt."""
    seen = []
    together = threading.Barrier(concurrency, timeout=30)  # the first requests are all in flight at once

    def respond(request):
        fmt = (request.get("response_format") or {}).get("type", "none")
        seen.append(fmt)
        if fmt == "json_schema":
            together.wait()
            message = "response_format json_schema is not supported"
            return StubReply(status=400, body=json.dumps({"error": {"message": message}}))
        modality = sample_of(request)[3]  # without a schema in the request, use the package's
        request = {**request, "response_format": {"json_schema": {"schema": json_schema(modality)}}}
        return StubReply(content=good_content(request))

    with StubChatServer(respond) as server:
        config = api_config(tmp_path, [server.base_url], 10, **{"backend.openai.concurrency": concurrency,
                                                                 "backend.openai.timeout_s": 60})
        stats = Synthesizer(config, progress=False).run()
    assert stats["accepted"] == 10 and stats["failed"] == 0 and not stats["rejected_attempts"]
    assert seen[:concurrency] == ["json_schema"] * concurrency and seen[concurrency:] == ["json_object"] * 10


def test_same_query_and_positive_texts_with_other_images_are_near_duplicates(tmp_path):
    """T2IT (no query image): an odd plan index first repeats the previous sample's query and
    positive texts (its target images and negative text differ): rejected as a near-duplicate, then
    kept with its own texts."""
    def respond(request):
        index, attempt, _, _ = sample_of(request)
        source = index - index % 2 if attempt == 0 else index

        def text(field, serial):
            return f"{PHRASES['en'][0]} {source if field in ('query_text', 'positive_text') else index} {field}"

        schema = request["response_format"]["json_schema"]["schema"]
        return StubReply(content=json.dumps(fill_schema(schema, index, text)))

    with StubChatServer(respond) as server:
        config = api_config(tmp_path, [server.base_url], 4, **{
            "backend.openai.concurrency": 1, "plan.task_weights": {"classification": 0, "vqa": 0, "retrieval": 1},
            "plan.modality_weights": {"retrieval": {"T2IT": 1}}, "plan.language_weights": {"en": 1}})
        stats = Synthesizer(config, progress=False).run()
    assert stats["accepted"] == 4 and stats["failed"] == 0 and stats["rejected_attempts"] == {"near_duplicate": 2}


def test_fatal_error_stops_cleanly_and_resumes(tmp_path, scripted):
    def unauthorised(request):
        return StubReply(status=401, body=json.dumps({"error": {"message": "invalid api key"}}))

    with StubChatServer(unauthorised) as server:
        with pytest.raises(BackendError, match="http_401"):
            Synthesizer(api_config(tmp_path, [server.base_url], 6), progress=False).run()
    assert json.loads((tmp_path / "stats.json").read_text())["accepted"] == 0
    with StubChatServer(scripted) as server:
        stats = Synthesizer(api_config(tmp_path, [server.base_url], 6), progress=False).run()
    assert stats["accepted"] == 6


def test_changed_plan_is_refused(tmp_path, scripted):
    with StubChatServer(scripted) as server:
        Synthesizer(api_config(tmp_path, [server.base_url], 3), progress=False).run()
        changed = api_config(tmp_path, [server.base_url], 3, **{"plan.language_weights": {"en": 1}})
        with pytest.raises(ValueError, match="plan.language_weights"):
            Synthesizer(changed, progress=False).run()
        # more samples with the same plan: allowed, continues where it stopped
        stats = Synthesizer(api_config(tmp_path, [server.base_url], 8), progress=False).run()
    assert stats["accepted"] == 8
