"""Splits are disjoint and deterministic; the emoji evaluation tasks (through the Runner) score
perfect and collapsed encoders right; the learning check counts languages per split."""
from __future__ import annotations

import numpy as np
import pytest

from mme5.data.emoji import XTD_LANGUAGES, load_pack
from mme5.config import ConfigError
from mme5.evaluation.metrics import chance_recall
from mme5.quickstart.config import SplitConfig
from mme5.quickstart.report import learning_check
from mme5.quickstart.splits import make_splits, seen_text_share, split_definition


@pytest.fixture(scope="module")
def pack():
    return load_pack()


def test_default_splits_are_disjoint_and_large_enough(pack):
    cfg = SplitConfig()
    s = make_splits(pack, cfg)
    heldout = set(s.heldout_images.gallery)
    assert len(heldout) == round(0.2 * len(pack))
    assert heldout.isdisjoint(s.train)
    assert s.heldout_pairs.gallery == tuple(range(len(pack)))
    train_pairs = {(p.image, p.language) for ps in s.train.values() for p in ps}
    for lang in XTD_LANGUAGES:
        a, b = s.heldout_pairs.queries[lang], s.heldout_images.queries[lang]
        assert len(a) >= 300 and len(b) >= 300
        assert all(p.image in s.train and (p.image, lang) not in train_pairs for p in a)
        assert {p.image for p in b} <= heldout
        assert all(p.text == pack.records[p.image].names[lang] for p in a + b)
    assert make_splits(pack, cfg) == s
    assert make_splits(pack, SplitConfig(seed=1)).heldout_images.gallery != s.heldout_images.gallery


def test_train_languages_and_seen_share(pack):
    s = make_splits(pack, SplitConfig(train_languages=("en", "de"), max_images=300, heldout_pairs_per_language=50))
    assert {p.language for ps in s.train.values() for p in ps} == {"en", "de"}
    share = seen_text_share(s.heldout_pairs, s)
    # "keycap: 3" style names repeat across languages, so some share is expected but not all
    brute = {lang: np.mean([any(q.text == p.text for q in s.train.get(p.image, ())) for p in pairs])
             for lang, pairs in s.heldout_pairs.queries.items()}
    assert share == pytest.approx(brute)


def test_bad_config_names_the_problem(pack):
    with pytest.raises(ValueError, match="xx"):
        make_splits(pack, SplitConfig(eval_languages=("en", "xx")))
    with pytest.raises(ConfigError, match="heldout_image_fraction"):
        make_splits(pack, SplitConfig(heldout_image_fraction=1.5))
    with pytest.raises(ConfigError, match="no registered emoji task"):
        make_splits(pack, SplitConfig(eval_languages=("en", "nl")))


class _FakeEncoder:
    """Stand-in for the encoder protocol: `vector(item)` -> (dim,) for each item."""

    def __init__(self, vector, dim: int, name: str):
        self.vector, self.dim, self.fingerprint = vector, dim, name
        self.backbone = type("B", (), {"name": "fake"})()

    def encode(self, items, batch_size=16, **kwargs):
        return np.stack([self.vector(item) for item in items]).astype(np.float32)


def test_emoji_tasks_score_perfect_and_collapsed_encoders(pack, tmp_path):
    import json

    from mme5.evaluation.loaders import DataSource
    from mme5.evaluation.runner import EvalConfig, Runner
    from mme5.evaluation.tasks import resolve_tasks

    cfg = SplitConfig(max_images=200, heldout_pairs_per_language=30, eval_languages=("en", "ja"))
    s = make_splits(pack, cfg)
    (tmp_path / "splits.json").write_text(json.dumps(split_definition(pack, s, cfg).to_json()))
    owner = {r.names[lang]: i for i, r in enumerate(pack.records[:200]) for lang in ("en", "ja") if lang in r.names}
    ids = {r.image.tobytes(): i for i, r in enumerate(pack.records[:200])}  # the loader reads its own copy
    assert len(ids) == 200

    def one_hot(item):
        v = np.zeros(200)
        v[owner[item.text] if item.text else ids[item.image.tobytes()]] = 1.0
        return v

    specs = resolve_tasks(["emoji-a-en", "emoji-a-ja", "emoji-b-en", "emoji-b-ja"])
    config = EvalConfig(data=DataSource(data_dir=str(tmp_path)), cache=False)
    perfect = Runner(_FakeEncoder(one_hot, 200, "perfect"), config, tmp_path / "p").run(specs)
    collapsed = Runner(_FakeEncoder(lambda item: np.ones(200) / np.sqrt(200), 200, "flat"), config,
                       tmp_path / "c").run(specs)
    for good, flat, spec in zip(perfect, collapsed, specs):
        assert good["protocols"]["row"]["tie_aware"]["recall@1"] == 100.0
        # every score ties: the positive ranks last, so tie-aware R@10 is 0, below chance
        assert flat["protocols"]["row"]["tie_aware"]["recall@10"] == 0.0
        split = s.heldout_pairs if spec.hub_config == "a" else s.heldout_images
        assert good["rows"] == len(split.queries[spec.language])
        assert good["protocols"]["row"]["mean_candidates"] == len(split.gallery)
    assert perfect[0]["rows"] == 30 and perfect[0]["protocols"]["row"]["mean_candidates"] == 200
    assert chance_recall(10, 1833) == pytest.approx(10 / 1833) and chance_recall(10, 4) == 1.0


def test_emoji_task_errors_name_the_problem(tmp_path):
    from mme5.evaluation.loaders import DataSource, load_task
    from mme5.evaluation.tasks import get_task
    from mme5.types import InputError

    spec = get_task("emoji-a-en")
    with pytest.raises(InputError, match="--data-dir"):
        load_task(spec, DataSource())
    with pytest.raises(FileNotFoundError, match="splits.json"):
        load_task(spec, DataSource(data_dir=str(tmp_path)))
    (tmp_path / "splits.json").write_text('{"format": 1, "splits": {}}')
    with pytest.raises(InputError, match="no queries for split"):
        load_task(spec, DataSource(data_dir=str(tmp_path)))


def test_learning_check_counts_languages_per_split():
    def m(r10, chance=0.01):
        return {"R@10": r10, "chance_R@10": chance}

    untrained = {"a": {"en": m(0.02), "de": m(0.0)}, "b": {"en": m(0.0), "de": m(0.0)}}
    trained = {"a": {"en": m(0.059), "de": m(0.03)}, "b": {"en": m(0.5), "de": m(0.02)}}
    result = learning_check(trained, untrained, factor=3.0, min_languages=1)
    assert result["a"]["languages_passed"] == ["de"]  # en needs 3 x 0.02 (untrained beats chance)
    assert result["b"]["languages_passed"] == ["en"]
    assert result["passed"]
    assert not learning_check(trained, untrained, factor=3.0, min_languages=2)["passed"]
