"""End to end with the local backend: a tiny random Mllama writes the replies under outlines'
schema-constrained decoding; the output loads through the training data sources and one
training step runs on it. (A random model writes gibberish, so language checks are off here:
this checks schema validity and the pipeline, not text quality.)"""
from __future__ import annotations

import json
import re

import pytest
import torch

from mme5.config import load_config
from mme5.synthesis.config import SynthesisConfig
from mme5.synthesis.neighbours import EmbedderEncoder
from mme5.synthesis.plan import MODALITIES
from mme5.data.schema import TRAINING_COLUMNS
from mme5.synthesis.runner import Synthesizer
from mme5.synthesis.schema import CRITERIA, ImageDescription, image_roles, json_schema, sample_model
from fixtures.stub_server import fill_schema
from mme5.types import HUB_IMAGE_PLACEHOLDER

from .conftest import api_config

N = 3


@pytest.fixture
def one_thread():
    """Token-by-token decoding of a ~200k-parameter model gains nothing from intra-op threads,
    and on a busy 2-core machine two threads spin against each other (several times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_local_backend_end_to_end(tmp_path, tiny_dirs, tiny_embedder, one_thread):
    overrides = [
        f"num_samples={N}", "seed=5", "pool.generate=24",
        "plan.task_weights={classification: 1, vqa: 1, retrieval: 2}",
        "plan.modality_weights={retrieval: {IT2IT: 1, T2I: 1}}",
        "neighbours.positive_ranks=[1, 2]", "neighbours.negative_ranks=[4, 8]",
        "neighbours.max_similarity=null",  # the random tiny model's image vectors are nearly parallel
        "backend.kind=local", f"backend.local.model={tiny_dirs('mllama')}", "backend.local.max_string_chars=8",
        "backend.local.max_new_tokens=1500", "backend.local.temperature=1.0", "backend.local.device=cpu",
        "validation.check_language=false", f"output.dir={tmp_path / 'run'}",
    ]
    config = load_config(SynthesisConfig, None, overrides)
    encoder = EmbedderEncoder(config.neighbours, embedder=tiny_embedder("mllama"))
    stats = Synthesizer(config, encoder=encoder, progress=False).run()
    assert stats["accepted"] == N
    # constrained decoding: no generation was ever unparseable or off-schema
    assert not {"invalid_json", "schema", "truncated", "empty_reply"} & set(stats["rejected_attempts"])

    rows = [json.loads(line) for path in sorted((tmp_path / "run" / "data").glob("shard-*"))
            for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == N and len({r["id"] for r in rows}) == N
    for row in rows:
        m = MODALITIES[row["modality"]]
        assert set(TRAINING_COLUMNS) <= set(row) and row["backend"] == "local"
        assert row["qry"].startswith(HUB_IMAGE_PLACEHOLDER) == m.query_image == bool(row["qry_image_path"])
        assert row["pos_text"].startswith(HUB_IMAGE_PLACEHOLDER) == m.target_image == bool(row["pos_image_path"])
        descriptions = json.loads(row["descriptions"])
        assert set(descriptions) == set(image_roles(m))
        assert all(set(d) == set(ImageDescription.model_fields) for d in descriptions.values())
        assert set(json.loads(row["draft"])) == set(sample_model(row["modality"]).model_fields)
        assert set(json.loads(row["self_evaluation"])) == set(CRITERIA)
        assert all(1 <= row[f"score_{c}"] <= 5 for c in CRITERIA)
        assert 1 <= len(json.loads(row["improvements"])) <= 5

    # the training side loads the shards unchanged, and one training step runs on them
    from mme5 import Embedder
    from mme5.data.collate import ContrastiveCollator
    from mme5.data.sources import read_examples
    from mme5.training.gradcache import contrastive_step
    from mme5.training.model import ContrastiveModel

    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    examples, wheres = read_examples(tmp_path / "run" / "data", image_root=manifest["image_root"], negative_ratio=1)
    assert len(examples) == N and all(len(e.hard_negatives) == 1 for e in examples)
    embedder = Embedder.from_pretrained(tiny_dirs("mllama"), device="cpu")  # fresh: this one is trained
    model = ContrastiveModel(embedder).train()
    batch = ContrastiveCollator(embedder, examples, wheres, negative_ratio=1)([list(range(N))])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = contrastive_step(model, batch["chunks"], backward=lambda value, last: value.backward())
    optimiser.step()
    assert torch.isfinite(loss) and loss > 0
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert any("language_model" in n for n in changed)


def test_generation_error_fails_the_sample_not_the_run(tmp_path, tiny_dirs, recwarn):
    """A CUDA OOM (or any error) inside one local generation is that attempt's failure: the sample
    is retried, then recorded as failed with the reason; the run goes on."""
    from mme5.synthesis.backends.local import LocalBackend

    config = api_config(tmp_path / "run", [], 3, **{
        "backend.kind": "local", "backend.local.model": str(tiny_dirs("mllama")), "backend.local.device": "cpu",
        "validation.check_language": False})
    backend = LocalBackend(config.backend.local)
    calls = []

    def generate(input_ids, **kwargs):  # calls 1-3 run out of memory, later ones reply with a valid JSON
        calls.append(1)
        if len(calls) <= 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        prompt = backend.tokenizer.decode(input_ids[0])
        modality = re.search(r"Task family: [A-Z ]+ \((\w+)\)", prompt).group(1)
        reply = json.dumps(fill_schema(json_schema(modality), len(calls)))
        return torch.cat([input_ids, backend.tokenizer(reply, add_special_tokens=False, return_tensors="pt").input_ids], 1)

    backend.hf_model.generate = generate
    stats = Synthesizer(config, backend=backend, progress=False).run()
    assert stats["accepted"] == 3 and stats["failed"] == 1 and len(calls) == 6  # 2 + 2 + 1 + 1 attempts
    failed = [json.loads(line) for path in (tmp_path / "run" / "failed").glob("*")
              for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(failed) == 1 and "OutOfMemoryError: CUDA out of memory (simulated)" in failed[0]["reason"]
    assert not [w for w in recwarn if "never retrieved" in str(w.message)]
