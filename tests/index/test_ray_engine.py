"""`--engine ray` on a real local Ray: the same vectors (1e-5), rows and records as the single-process
engine, and a restarted build recomputes only the missing shard (one Ray start for the module)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mme5.index.build import build_index
from mme5.index.engines import EmbedderSpec, EngineOptions

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # Ray start-up and two actor replicas cost tens of seconds on 2 cores


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def corpus(tmp_path, assets):
    (tmp_path / "img").mkdir()
    for name in ("cat.png", "dog.png"):
        shutil.copy(assets / name, tmp_path / "img" / name)
    rows = [{"text": f"document {i} about topic {i % 3}", "id": f"d{i}", "meta": {"n": i}} for i in range(7)]
    rows += [{"image": "img/cat.png", "id": "cat"},
             {"image": "img/dog.png", "text": "a dog", "instruction": "Represent the image:"}, {"text": "last"}]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def assets():
    from importlib import resources
    from pathlib import Path

    return Path(str(resources.files("mme5").joinpath("assets")))


def shards(out):
    """(rows, vectors, records) of an index folder's shards, read with pyarrow in file order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(p) for p in sorted((out / "shards").glob("shard-*.parquet"))])
    vectors = np.array(table.column("vector").to_pylist(), dtype=np.float32)
    return table.column("row").to_pylist(), vectors, list(zip(*(table.column(c).to_pylist() for c in ("id", "item", "meta"))))


def test_ray_engine_equals_local_and_resumes(local_ray, corpus, tmp_path, tiny_dirs):
    spec = EmbedderSpec(model=str(tiny_dirs("mllama")), device="cpu")
    options = EngineOptions(actors=2, batch_size=4)
    on_ray = build_index(spec, corpus, tmp_path / "ray", engine="ray", engine_options=options, shard_size=4)
    local = build_index(spec, corpus, tmp_path / "local", shard_size=4)
    rows, vectors, records = shards(tmp_path / "ray")
    local_rows, local_vectors, local_records = shards(tmp_path / "local")
    assert rows == local_rows == list(range(10)) and records == local_records
    np.testing.assert_allclose(vectors, local_vectors, atol=1e-5)
    assert on_ray.info["engine"]["name"] == "ray" and on_ray.fingerprint == local.fingerprint
    assert len(on_ray) == 10 and on_ray.records[7]["id"] == "cat"

    # a build killed after two of its three shards: the rerun embeds only the missing one
    kept = {n: (tmp_path / "ray" / "shards" / f"shard-{n:06d}.parquet").stat().st_mtime_ns for n in (0, 2)}
    (tmp_path / "ray" / "shards" / "shard-000001.parquet").unlink()
    build_index(spec, corpus, tmp_path / "ray", engine="ray", engine_options=options, shard_size=4)
    assert {n: (tmp_path / "ray" / "shards" / f"shard-{n:06d}.parquet").stat().st_mtime_ns for n in (0, 2)} == kept
    rows_again, vectors_again, _ = shards(tmp_path / "ray")
    assert rows_again == rows
    np.testing.assert_allclose(vectors_again, local_vectors, atol=1e-5)


def test_bad_item_on_ray_is_the_same_one_line_error(local_ray, tmp_path, tiny_dirs):
    """A prepare task's bad item stops the build with the error the local engine gives (the CLI's
    one-line exit 2), not Ray's wrapped traceback; the shards already finished are kept."""
    from mme5.types import InputError

    path = tmp_path / "corpus.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "fine too"}\n{"image": "nope.png"}\n')
    spec = EmbedderSpec(model=str(tiny_dirs("mllama")), device="cpu")
    with pytest.raises(InputError, match=r"corpus.jsonl: item 2: image file not found") as ray_error:
        build_index(spec, path, tmp_path / "ray", engine="ray", engine_options=EngineOptions(actors=1), shard_size=2)
    with pytest.raises(InputError) as local_error:
        build_index(spec, path, tmp_path / "local", shard_size=2)
    assert type(ray_error.value) is type(local_error.value) and str(ray_error.value) == str(local_error.value)
