"""The plan: deterministic per (config, seed, index), and over many samples its task /
modality / language mix matches the configured weights."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from mme5.config import ConfigError, load_config
from mme5.synthesis import MODALITIES, TASKS, XLMR_LANGUAGES, Planner, SynthesisConfig
from mme5.synthesis.config import PlanConfig
from mme5.synthesis.languages import language_weights, xlmr93_weights
from mme5.synthesis.plan import has_texts

N = 20_000


def _assert_shares(observed: Counter, expected: dict[str, float], n: int, what: str) -> None:
    """Every share within 5 binomial standard errors of its configured probability."""
    assert set(observed) <= {k for k, p in expected.items() if p > 0}, what
    for key, p in expected.items():
        share = observed[key] / n
        tolerance = 5 * math.sqrt(p * (1 - p) / n) + 1e-9
        assert abs(share - p) <= tolerance, f"{what} {key}: observed {share:.4f}, expected {p:.4f} ± {tolerance:.4f}"


@pytest.fixture(scope="module")
def default_plan():
    planner = Planner(PlanConfig(), seed=0, pool_size=1000)
    return planner, [planner.sample(i) for i in range(N)]


def test_the_paper_combinations_and_93_xlmr_languages():
    assert TASKS["classification"].modalities == ("I2T", "IT2T")
    assert TASKS["vqa"].modalities == ("IT2T",)
    assert sorted(TASKS["retrieval"].modalities) == sorted(["I2T", "T2I", "IT2T", "IT2I", "T2IT", "I2I", "IT2IT"])
    assert len(XLMR_LANGUAGES) == 93
    weights = xlmr93_weights()
    assert set(weights) == set(XLMR_LANGUAGES)
    assert max(weights, key=weights.get) == "en"
    share = weights["en"] / sum(weights.values())
    assert share > 5 * max(w for k, w in weights.items() if k != "en") / sum(weights.values())
    assert weights["de"] > weights["sk"] > weights["yi"]  # high > mid > low resource


def test_mix_matches_configured_weights(default_plan):
    planner, samples = default_plan
    expected = planner.expected_shares()
    assert expected["task"] == pytest.approx({"classification": 0.25, "vqa": 0.25, "retrieval": 0.5})
    _assert_shares(Counter(s.task for s in samples), expected["task"], N, "task")
    _assert_shares(Counter(s.modality for s in samples), expected["modality"], N, "modality")
    _assert_shares(Counter(s.language for s in samples), expected["language"], N, "language")
    for s in samples[:2000]:
        assert s.modality in TASKS[s.task].modalities
        if not has_texts(MODALITIES[s.modality]):
            assert s.language == "en"  # I2I: only the English instruction is text


def test_custom_weights_are_followed():
    config = PlanConfig(task_weights={"vqa": 1, "retrieval": 3},
                        modality_weights={"retrieval": {"T2I": 1, "IT2IT": 2}},
                        language_weights={"en": 2, "ja": 1, "sw": 1})
    planner = Planner(config, seed=3, pool_size=50)
    samples = [planner.sample(i) for i in range(N)]
    expected = planner.expected_shares()
    assert expected["modality"] == pytest.approx({"IT2T": 0.25, "T2I": 0.25, "IT2IT": 0.5})
    _assert_shares(Counter(s.task for s in samples), {"vqa": 0.25, "retrieval": 0.75}, N, "task")
    _assert_shares(Counter(s.modality for s in samples), expected["modality"], N, "modality")
    _assert_shares(Counter(s.language for s in samples), {"en": 0.5, "ja": 0.25, "sw": 0.25}, N, "language")
    assert all(0 <= s.anchor < 50 and 1 <= s.positive_rank <= 3 and 10 <= s.negative_rank <= 30 for s in samples)


def test_plan_is_a_pure_function_of_config_seed_and_index(default_plan):
    planner, samples = default_plan
    again = Planner(PlanConfig(), seed=0, pool_size=1000)
    # any order, any subset: sample i is always the same
    for i in (17, 3, 19_999, 0, 512):
        assert again.sample(i) == samples[i]
    assert len({s.id for s in samples}) == N
    other_seed = Planner(PlanConfig(), seed=1, pool_size=1000)
    assert [other_seed.sample(i) for i in range(50)] != samples[:50]
    assert other_seed.sample(0).id != samples[0].id


@pytest.mark.parametrize("override, message", [
    (["plan.task_weights={retrieval: 1, ocr: 1}"], "unknown name"),
    (["plan.language_weights={en: 1, xx: 1}"], "not XLM-R language codes"),
    (["plan.modality_weights={vqa: {I2I: 1}}"], "unknown name"),
    (["neighbours.positive_ranks=[1, 12]"], "positive_ranks"),
    (["plan.languages=klingon"], "unknown preset"),
])
def test_bad_plan_settings_are_named(override, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        config = load_config(SynthesisConfig, None, override)
        Planner(config.plan, seed=0, pool_size=10)


def test_english_preset():
    assert language_weights("english") == {"en": 1.0}


def test_key_order_of_weights_does_not_change_the_plan():
    forward = PlanConfig(modality_weights={"retrieval": {"T2I": 1, "IT2IT": 2, "I2T": 1}},
                         language_weights={"en": 3, "de": 1, "ja": 1})
    backward = PlanConfig(modality_weights={"retrieval": {"I2T": 1, "IT2IT": 2, "T2I": 1}},
                          language_weights={"ja": 1, "de": 1, "en": 3})
    a, b = (Planner(c, seed=0, pool_size=10) for c in (forward, backward))
    assert [a.sample(i) for i in range(200)] == [b.sample(i) for i in range(200)]
