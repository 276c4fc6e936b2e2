"""Kill -9 (and SIGTERM) a real `mme5 synthesize` process at arbitrary points, start it again: the run ends
with exactly the requested samples, no duplicate, nothing lost, the same samples (ids, texts,
failures) as an uninterrupted run against the same scripted server."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from mme5.config import to_dict
from mme5.synthesis.runner import Synthesizer
from fixtures.stub_server import StubChatServer

from .conftest import ScriptedAPI, api_config

N = 40


def committed(folder):
    rows = []
    for path in sorted(folder.glob("shard-*")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def run_and_kill(config_path, data_dir, shards_before_kill, sig=signal.SIGKILL, timeout=60.0):
    """Start the CLI, send `sig` once `data_dir` holds that many shards (or it finished)."""
    proc = subprocess.Popen([sys.executable, "-m", "mme5.cli.main", "synthesize", str(config_path), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(data_dir.glob("shard-*"))) >= shards_before_kill:
            proc.send_signal(sig)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    return proc.returncode


@pytest.mark.slow
@pytest.mark.integration
def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path):
    scripted = ScriptedAPI(latency=0.03)
    with StubChatServer(scripted) as server:
        config = api_config(tmp_path / "run", [server.base_url], N, **{
            "backend.openai.concurrency": 4, "output.shard_size": 3, "output.commit_every_s": 0.05})
        config_path = tmp_path / "run.yaml"
        config_path.write_text(yaml.safe_dump(to_dict(config)), encoding="utf-8")
        data = tmp_path / "run" / "data"
        codes = [run_and_kill(config_path, data, k) for k in (2, 5)]
        assert codes.count(-signal.SIGKILL) >= 1, codes  # really killed mid-run
        # SIGTERM: a graceful stop (exit 130) that commits what was finished
        assert run_and_kill(config_path, data, 9, signal.SIGTERM) in (0, 130)
        partial = committed(data)
        assert len({r["id"] for r in partial}) == len(partial) < N
        stats = Synthesizer(config, progress=False).run()
    with StubChatServer(ScriptedAPI(latency=0.0)) as server:
        reference_config = api_config(tmp_path / "reference", [server.base_url], N)
        reference = Synthesizer(reference_config, progress=False).run()

    kept, failed = committed(data), committed(tmp_path / "run" / "failed")
    ref_kept, ref_failed = committed(tmp_path / "reference" / "data"), committed(tmp_path / "reference" / "failed")
    assert stats["accepted"] == reference["accepted"] == len(kept) == N
    assert len({r["id"] for r in kept + failed}) == len(kept) + len(failed)
    used, failures = ScriptedAPI.expected(N)
    assert sorted(r["plan_index"] for r in kept + failed) == list(range(used))
    assert stats["rejections"] == reference["rejections"] == dict(failures)
    by_id = {r["id"]: r for r in ref_kept}
    assert {r["id"] for r in kept} == set(by_id) and {r["id"] for r in failed} == {r["id"] for r in ref_failed}
    for row in kept:
        ref = by_id[row["id"]]
        for column in ("qry", "qry_image_path", "pos_text", "pos_image_path", "neg_text", "neg_image_path",
                       "modality", "language", "task"):
            assert row[column] == ref[column], (row["id"], column)
