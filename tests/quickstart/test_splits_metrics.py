"""Splits are disjoint and deterministic; evaluation scores perfect and collapsed encoders right;
the learning check counts languages per split."""
from __future__ import annotations

import numpy as np
import pytest

from mme5.data.emoji import XTD_LANGUAGES, load_pack
from mme5.quickstart.config import DataConfig
from mme5.quickstart.evaluate import Instructions, chance_recall, evaluate_all, learning_check, recall_at
from mme5.quickstart.splits import make_splits, seen_text_share


@pytest.fixture(scope="module")
def pack():
    return load_pack()


def test_default_splits_are_disjoint_and_large_enough(pack):
    cfg = DataConfig()
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
    assert make_splits(pack, DataConfig(seed=1)).heldout_images.gallery != s.heldout_images.gallery


def test_train_languages_and_seen_share(pack):
    s = make_splits(pack, DataConfig(train_languages=("en", "de"), max_images=300, heldout_pairs_per_language=50))
    assert {p.language for ps in s.train.values() for p in ps} == {"en", "de"}
    share = seen_text_share(s.heldout_pairs, s)
    # "keycap: 3" style names repeat across languages, so some share is expected but not all
    brute = {lang: np.mean([any(q.text == p.text for q in s.train.get(p.image, ())) for p in pairs])
             for lang, pairs in s.heldout_pairs.queries.items()}
    assert share == pytest.approx(brute)


def test_bad_config_names_the_problem(pack):
    with pytest.raises(ValueError, match="xx"):
        make_splits(pack, DataConfig(eval_languages=("en", "xx")))
    with pytest.raises(ValueError, match="heldout_image_fraction"):
        make_splits(pack, DataConfig(heldout_image_fraction=1.5))


class _FakeEmbedder:
    """Stand-in encoder: `vector(item)` -> (dim,) for each item."""

    def __init__(self, vector):
        self.vector = vector

    def encode(self, items, batch_size=16):
        return np.stack([self.vector(item) for item in items]).astype(np.float32)


def test_evaluate_split_with_perfect_and_collapsed_encoders(pack):
    s = make_splits(pack, DataConfig(max_images=200, heldout_pairs_per_language=30, eval_languages=("en", "ja")))
    owner = {r.names[lang]: i for i, r in enumerate(pack.records[:200]) for lang in ("en", "ja") if lang in r.names}
    ids = {id(r.image): i for i, r in enumerate(pack.records[:200])}

    def one_hot(item):
        v = np.zeros(200)
        v[owner[item.text] if item.text else ids[id(item.image)]] = 1.0
        return v

    ins = Instructions(None, None)
    perfect = evaluate_all(_FakeEmbedder(one_hot), pack, [s.heldout_pairs, s.heldout_images], ins)
    collapsed = evaluate_all(_FakeEmbedder(lambda item: np.ones(200) / np.sqrt(200)), pack,
                             [s.heldout_pairs, s.heldout_images], ins)
    for split in perfect:
        for lang in ("en", "ja"):
            assert perfect[split][lang]["R@1"] == 1.0 and perfect[split][lang]["mean_rank"] == 1.0
            # every score ties: the positive ranks last, so R@10 is 0, below chance
            assert collapsed[split][lang]["R@10"] == 0.0
            assert collapsed[split][lang]["mean_rank"] == collapsed[split][lang]["gallery"]
    assert perfect["a_heldout_pairs"]["en"]["gallery"] == 200 and perfect["a_heldout_pairs"]["en"]["queries"] == 30
    assert recall_at(np.array([1, 2, 11, 10]), 10) == 0.75
    assert chance_recall(10, 1833) == pytest.approx(10 / 1833) and chance_recall(10, 4) == 1.0


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
