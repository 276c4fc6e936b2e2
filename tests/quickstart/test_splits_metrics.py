"""Splits are disjoint and deterministic; tie-aware ranks and the learning check match brute force."""
from __future__ import annotations

import numpy as np
import pytest

from mme5.data.emoji import XTD_LANGUAGES, load_pack
from mme5.quickstart.config import DataConfig
from mme5.quickstart.evaluate import chance_recall, learning_check, recall_at, tie_aware_ranks
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


def test_tie_aware_ranks_match_brute_force():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(200, 30)).astype(np.float32)  # many ties
    positive = rng.integers(0, 30, size=200)
    ranks = tie_aware_ranks(scores, positive)
    for q in range(200):
        others = np.delete(scores[q], positive[q])
        assert ranks[q] == 1 + (others >= scores[q, positive[q]]).sum()
    flat = tie_aware_ranks(np.zeros((4, 50)), np.array([0, 7, 20, 49]))
    assert (flat == 50).all() and recall_at(flat, 10) == 0.0  # a collapsed model ranks last
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
