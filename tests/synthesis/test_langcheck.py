"""The language check on real multilingual text: CLDR emoji names in up to 92 languages
(../shared/data/emoji_cldr, skipped when absent) and a few hand-written sentences."""
from __future__ import annotations

import json
import random

import pytest

from mme5.synthesis.langcheck import SCRIPT_ONLY, LanguageChecker
from mme5.synthesis.languages import XLMR_LANGUAGES

# CLDR locale -> XLM-R code (CLDR splits Chinese by script and calls Tagalog Filipino)
CLDR_TO_XLMR = {"fil": "tl", "zh_Hant": "zh"}

SENTENCES = {
    "en": "A small dog is running across the wet sand at sunset.",
    "de": "Ein kleiner Hund rennt bei Sonnenuntergang über den nassen Sand.",
    "fr": "Un petit chien court sur le sable mouillé au coucher du soleil.",
    "es": "Un perro pequeño corre por la arena mojada al atardecer.",
    "ru": "Маленькая собака бежит по мокрому песку на закате.",
    "ja": "夕暮れに小さな犬が濡れた砂の上を走っている。",
    "zh": "日落时一只小狗在湿沙滩上奔跑。",
    "ar": "كلب صغير يركض على الرمال المبللة عند غروب الشمس.",
    "yi": "א קליין הינטל לױפֿט איבער דעם נאַסן זאַמד בײַם זונפֿאַרגאַנג.",
}


@pytest.fixture(scope="module")
def checker():
    return LanguageChecker(top_k=3, min_letters=10)


@pytest.fixture(scope="module")
def cldr_texts(emoji_dir):
    """{xlmr code: [texts]}: four random CLDR names of one language joined, 30 texts per language."""
    names: dict[str, list[str]] = {}
    for line in (emoji_dir / "emoji.jsonl").read_text(encoding="utf-8").splitlines():
        for locale, name in json.loads(line)["name"].items():
            code = CLDR_TO_XLMR.get(locale, locale)
            if code in XLMR_LANGUAGES and locale != "zh_Hant":
                names.setdefault(code, []).append(name)
    rng = random.Random(0)
    return {code: ["; ".join(rng.sample(pool, 4)) for _ in range(30)] for code, pool in sorted(names.items())}


def test_accepts_real_multilingual_text(checker, cldr_texts):
    languages = [c for c in cldr_texts if c in checker.supported]
    assert len(languages) >= 70  # the CLDR set covers most XLM-R languages
    accepted = {c: sum(checker.check(t, c).ok for t in cldr_texts[c]) / len(cldr_texts[c]) for c in languages}
    overall = sum(accepted.values()) / len(accepted)
    assert overall >= 0.97, sorted(accepted.items(), key=lambda kv: kv[1])[:8]
    assert min(accepted.values()) >= 0.8, sorted(accepted.items(), key=lambda kv: kv[1])[:8]


def test_rejects_mismatched_languages(checker, cldr_texts):
    rng = random.Random(1)
    languages = [c for c in cldr_texts if c in checker.supported]
    trials = rejected = 0
    for code in languages:
        for text in cldr_texts[code][:10]:
            other = rng.choice([c for c in languages if c != code])
            trials += 1
            rejected += not checker.check(text, other).ok
    assert rejected / trials >= 0.95


def test_sentences_accepted_in_their_language_and_rejected_in_others(checker):
    for code, text in SENTENCES.items():
        verdict = checker.check(text, code)
        assert verdict.ok and verdict.checked, (code, verdict)
        for other in ("en", "ja", "ru", "ar"):
            if other != code and not {code, other} <= {"zh", "ja"}:
                assert not checker.check(text, other).ok, (code, other)


def test_short_texts_and_script_only_languages(checker):
    assert checker.check("1/8/93", "de") == checker.check("OK", "ja")  # too few letters: unchecked
    assert not checker.check("1/8/93", "de").checked
    assert set(SCRIPT_ONLY) == set(XLMR_LANGUAGES) - set(checker.supported)
    assert checker.check(SENTENCES["yi"], "yi").detected == "HEBREW"
    assert not checker.check(SENTENCES["de"], "yi").ok
    with pytest.raises(ValueError, match="unknown language"):
        checker.check("hello there my friend", "xx")
