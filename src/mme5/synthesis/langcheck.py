"""Offline language identification of synthetic texts (py3langid: its model ships in the wheel).

A text passes when the requested language is among the identifier's top-k guesses AND its
probability is at least `min_ratio` x the best guess's, with the identifier restricted to the
XLM-R languages it knows. Top-k rather than top-1 because short texts of close languages
(bs/hr/sr, ms/id, da/no) are often confused; the ratio stops a frequent runner-up (English)
from passing a text that is clearly another language. On real CLDR names joined four at a time,
top-3 with ratio 0.1 accepted 99.5% of true pairs and rejected 99.4% of random mismatches
(tests/synthesis/test_langcheck.py measures both). Three XLM-R languages are unknown to the
identifier; for them the dominant script is checked instead.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

from ..types import HUB_IMAGE_PLACEHOLDER
from .languages import XLMR_LANGUAGES

# XLM-R languages py3langid does not model -> the Unicode script their texts must be in
SCRIPT_ONLY = {"sd": "ARABIC", "yi": "HEBREW", "su": "LATIN"}


@dataclass(frozen=True)
class LanguageVerdict:
    ok: bool
    detected: str
    """Best guess (or the dominant script for script-checked languages; '' if unchecked)."""
    checked: bool
    """False when the text was too short to identify (then `ok` is True)."""


class LanguageChecker:
    """Decide whether a text is in a requested language."""

    def __init__(self, top_k: int = 3, min_letters: int = 10, min_ratio: float = 0.1) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.top_k = top_k
        self.min_ratio = min_ratio
        self.min_letters = min_letters
        # an own instance: py3langid's module-level identifier is global mutable state
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.supported = sorted(set(XLMR_LANGUAGES) & set(self._identifier.labels))
        self._identifier.set_languages(self.supported)

    def check(self, text: str, language: str) -> LanguageVerdict:
        """Is `text` written in `language` (an XLM-R code)?"""
        if language not in XLMR_LANGUAGES:
            raise ValueError(f"unknown language code {language!r}")
        text = text.replace(HUB_IMAGE_PLACEHOLDER, " ")
        letters = [c for c in text if c.isalpha()]
        if len(letters) < self.min_letters:
            return LanguageVerdict(ok=True, detected="", checked=False)
        if language in SCRIPT_ONLY:
            script = dominant_script(letters)
            return LanguageVerdict(ok=script == SCRIPT_ONLY[language], detected=script, checked=True)
        ranking = self._identifier.rank(text)[: self.top_k]
        best = ranking[0][1]
        ok = any(code == language and p >= self.min_ratio * best for code, p in ranking)
        return LanguageVerdict(ok=ok, detected=ranking[0][0], checked=True)


def dominant_script(letters: list[str]) -> str:
    """The most common Unicode script word (e.g. LATIN, ARABIC, CJK) among the letters."""
    scripts = Counter(unicodedata.name(c, "UNKNOWN").split(" ")[0] for c in letters)
    return scripts.most_common(1)[0][0]
