"""The runner with a real tiny model: one forward per unique item, cache hits on re-runs,
resume, and parity of its scores with an independent computation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mme5.evaluation.loaders import DataSource
from mme5.evaluation.runner import EvalConfig, Runner, task_file
from mme5.evaluation.tasks import resolve_tasks
from mme5.types import InputError, Item

from .conftest import mmeb_rows
from .test_loaders import unique_pairs

TASKS = ["ImageNet-1K", "MSCOCO_t2i", "RefCOCO"]


@pytest.fixture
def counted(tiny_embedder, monkeypatch):
    """The tiny Mllama embedder, counting the rows that go through its forward pass."""
    embedder = tiny_embedder("mllama")
    calls = {"rows": 0}
    forward = embedder.forward

    def counting(prepared):
        calls["rows"] += prepared.size
        return forward(prepared)

    monkeypatch.setattr(embedder, "forward", counting)
    return embedder, calls


def test_forward_passes_equal_unique_items_and_a_second_run_hits_the_cache(counted, mmeb_dir, tmp_path):
    embedder, calls = counted
    config = EvalConfig(data=DataSource(str(mmeb_dir)), cache_dir=str(tmp_path / "cache"), chunk_items=7)
    rows = mmeb_rows([f"imgs/{i}.png" for i in range(6)])
    per_task = {t: len(unique_pairs(rows[t])) for t in TASKS}
    occurrences = sum(1 + len(r["tgt_text"]) for t in TASKS for r in rows[t])

    first = Runner(embedder, config, tmp_path / "run1").run(resolve_tasks(TASKS))
    # items shared between tasks (the same image target) are encoded by the first task only
    all_unique = len(set().union(*(unique_pairs(rows[t]) for t in TASKS)))
    assert calls["rows"] == all_unique < sum(per_task.values()) < occurrences
    assert [r["encoding"]["unique_items"] for r in first] == [per_task[t] for t in TASKS]
    assert sum(r["encoding"]["encoded"] for r in first) == all_unique

    calls["rows"] = 0
    second = Runner(embedder, config, tmp_path / "run2").run(resolve_tasks(TASKS))
    assert calls["rows"] == 0
    assert all(r["encoding"]["cache_hits"] == r["encoding"]["unique_items"] for r in second)
    assert [r["protocols"] for r in second] == [r["protocols"] for r in first]


def test_scores_match_an_independent_per_row_computation(tiny_embedder, mmeb_dir, tmp_path):
    embedder = tiny_embedder("mllama")
    result = Runner(embedder, EvalConfig(data=DataSource(str(mmeb_dir)), cache=False), tmp_path).run(resolve_tasks(["MSCOCO_t2i"]))[0]
    rows = mmeb_rows([str(mmeb_dir / f"imgs/{i}.png") for i in range(6)])["MSCOCO_t2i"]
    # every occurrence encoded in one plain call (no dedup, cache or reordering), then the original loop
    queries = embedder.encode([Item(text=r["qry_text"]) for r in rows])
    cands = embedder.encode([Item(text=t, image=p) for r in rows for t, p in zip(r["tgt_text"], r["tgt_img_path"])])
    hits, tie_hits = [], []
    for i, q in enumerate(queries):
        scores = cands[3 * i : 3 * i + 3] @ q
        hits.append(np.argmax(scores) == 0)
        tie_hits.append(bool((scores[1:] < scores[0] - 1e-6).all()))
    assert result["score"] == pytest.approx(100 * np.mean(hits))
    assert result["score_tie_aware"] == pytest.approx(100 * np.mean(tie_hits))
    assert result["model"]["fingerprint"] == embedder.fingerprint
    assert result["versions"]["torch"] and result["config"]["data"]["data_dir"] == str(mmeb_dir)
    assert json.loads(task_file(tmp_path, "MSCOCO_t2i").read_text())["score"] == result["score"]


def test_resume_skips_finished_tasks_and_refuses_another_model(counted, mmeb_dir, tmp_path):
    embedder, calls = counted
    config = EvalConfig(data=DataSource(str(mmeb_dir)), cache=False)
    Runner(embedder, config, tmp_path).run(resolve_tasks(TASKS[:2]))
    done = task_file(tmp_path, TASKS[0])
    before = done.read_text()
    task_file(tmp_path, TASKS[1]).unlink()  # as if the run had been interrupted here
    calls["rows"] = 0
    Runner(embedder, config, tmp_path).run(resolve_tasks(TASKS[:2]))
    rows = mmeb_rows([f"imgs/{i}.png" for i in range(6)])
    assert calls["rows"] == len(unique_pairs(rows[TASKS[1]]))
    assert done.read_text() == before

    record = json.loads(before)
    record["model"]["fingerprint"] = "0000"
    done.write_text(json.dumps(record))
    with pytest.raises(InputError, match="another model"):
        Runner(embedder, config, tmp_path).run(resolve_tasks(TASKS[:1]))
    with pytest.raises(InputError, match="different settings.*max_rows"):
        done.write_text(before)
        Runner(embedder, EvalConfig(data=DataSource(str(mmeb_dir), max_rows=2), cache=False), tmp_path).run(resolve_tasks(TASKS[:1]))


def test_skipped_rows_are_counted_in_the_result_and_the_report(tiny_embedder, tmp_path):
    from mme5.evaluation.report import write_report

    from .conftest import write_images
    from .test_loaders import write_jsonl

    rows = mmeb_rows(write_images(tmp_path / "imgs", 3))["ImageNet-1K"]
    rows[1]["qry_img_path"] = "imgs/gone.png"
    write_jsonl(tmp_path / "ImageNet-1K.jsonl", rows)
    config = EvalConfig(data=DataSource(str(tmp_path), skip_missing=True), cache=False)
    result = Runner(tiny_embedder("mllama"), config, tmp_path / "run").run(resolve_tasks(["ImageNet-1K"]))[0]
    assert (result["rows"], result["rows_total"], result["skipped_rows"]) == (2, 3, 1)
    assert result["skipped_examples"][0]["path"].endswith("imgs/gone.png")
    assert any("skipped 1 of 3 rows" in w for w in result["warnings"])
    table = write_report(tmp_path / "run", chart=False)
    assert "| ImageNet-1K | Class. | IND | 2 |" in table and table.split("| ImageNet-1K |")[1].split("\n")[0].endswith("| 1 |")


def test_vector_views_are_scored_from_the_cached_float_vectors(counted, mmeb_dir, tmp_path):
    from mme5.evaluation.report import write_report

    embedder, calls = counted
    base = EvalConfig(data=DataSource(str(mmeb_dir)), cache_dir=str(tmp_path / "cache"))
    first = Runner(embedder, base, tmp_path / "run").run(resolve_tasks(["MSCOCO_t2i"]))[0]
    assert "views" not in first
    calls["rows"] = 0
    views = ("8-float", "8-binary", "full-int8", "8-binary+rescore1")
    result = Runner(embedder, EvalConfig(**{**base.__dict__, "views": views}), tmp_path / "run").run(
        resolve_tasks(["MSCOCO_t2i"])
    )[0]
    assert calls["rows"] == 0 and result["encoding"]["cache_hits"] == result["encoding"]["unique_items"]
    assert result["protocols"] == first["protocols"]
    # independently: the per-row loop of the parity test above, on prefix / sign vectors
    rows = mmeb_rows([str(mmeb_dir / f"imgs/{i}.png") for i in range(6)])["MSCOCO_t2i"]
    queries = embedder.encode([Item(text=r["qry_text"]) for r in rows])
    cands = embedder.encode([Item(text=t, image=p) for r in rows for t, p in zip(r["tgt_text"], r["tgt_img_path"])])
    for name, view in (("8-float", lambda v: v[:, :8] / np.linalg.norm(v[:, :8], axis=1, keepdims=True)),
                       ("8-binary", lambda v: np.where(v[:, :8] > 0, 1.0, -1.0))):
        q, c = view(queries), view(cands)
        hits = [np.argmax(c[3 * i : 3 * i + 3] @ q[i]) == 0 for i in range(len(q))]
        ties = [bool((c[3 * i + 1 : 3 * i + 3] @ q[i] < c[3 * i] @ q[i] - 1e-6).all()) for i in range(len(q))]
        assert result["views"][name]["score"] == pytest.approx(100 * np.mean(hits)), name
        assert result["views"][name]["score_tie_aware"] == pytest.approx(100 * np.mean(ties)), name
    # 3 candidates per row, a shortlist of 10: rescoring re-ranks all of them by the float vectors
    rescored = result["views"]["8-binary+rescore1"]
    assert (rescored["score"], rescored["score_tie_aware"]) == (first["score"], first["score_tie_aware"])
    assert result["views"]["8-binary"]["bytes_per_vector"] == 1
    assert result["views"]["full-int8"]["bytes_per_vector"] == embedder.dim
    report = write_report(tmp_path / "run", chart=False)
    assert "Scores by vector size" in report and "8-binary (1 B)" in report
