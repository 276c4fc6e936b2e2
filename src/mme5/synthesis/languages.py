"""The 93 XLM-R languages and the default weighting of the synthetic data's language mix.

XLM-R (Conneau et al., 2020) lists 100 "languages"; seven of them are script or romanisation
variants of another entry: Bengali, Hindi, Tamil, Telugu and Urdu romanized, Burmese in the
Zawgyi font, and Traditional Chinese (folded into `zh`). Dropping those leaves the 93 below,
the list the mmE5 paper samples from.

Weights: English gets by far the largest share (mmE5: "English is by far the largest share"),
then three tiers that follow the order of the languages' CC-100 data sizes (XLM-R, Table 6),
rounded into tiers by us: high x2.0, mid x0.6, low x0.2 against English x40. That gives
English ~33%, each high-resource language ~1.7%, each mid ~0.5%, each low ~0.17%.
`plan.language_weights` in the config replaces this mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..config import ConfigError

XLMR_LANGUAGES: Mapping[str, str] = MappingProxyType(
    {
        "af": "Afrikaans",
        "am": "Amharic",
        "ar": "Arabic",
        "as": "Assamese",
        "az": "Azerbaijani",
        "be": "Belarusian",
        "bg": "Bulgarian",
        "bn": "Bengali",
        "br": "Breton",
        "bs": "Bosnian",
        "ca": "Catalan",
        "cs": "Czech",
        "cy": "Welsh",
        "da": "Danish",
        "de": "German",
        "el": "Greek",
        "en": "English",
        "eo": "Esperanto",
        "es": "Spanish",
        "et": "Estonian",
        "eu": "Basque",
        "fa": "Persian",
        "fi": "Finnish",
        "fr": "French",
        "fy": "Western Frisian",
        "ga": "Irish",
        "gd": "Scottish Gaelic",
        "gl": "Galician",
        "gu": "Gujarati",
        "ha": "Hausa",
        "he": "Hebrew",
        "hi": "Hindi",
        "hr": "Croatian",
        "hu": "Hungarian",
        "hy": "Armenian",
        "id": "Indonesian",
        "is": "Icelandic",
        "it": "Italian",
        "ja": "Japanese",
        "jv": "Javanese",
        "ka": "Georgian",
        "kk": "Kazakh",
        "km": "Khmer",
        "kn": "Kannada",
        "ko": "Korean",
        "ku": "Kurdish (Kurmanji)",
        "ky": "Kyrgyz",
        "la": "Latin",
        "lo": "Lao",
        "lt": "Lithuanian",
        "lv": "Latvian",
        "mg": "Malagasy",
        "mk": "Macedonian",
        "ml": "Malayalam",
        "mn": "Mongolian",
        "mr": "Marathi",
        "ms": "Malay",
        "my": "Burmese",
        "ne": "Nepali",
        "nl": "Dutch",
        "no": "Norwegian",
        "om": "Oromo",
        "or": "Odia",
        "pa": "Punjabi",
        "pl": "Polish",
        "ps": "Pashto",
        "pt": "Portuguese",
        "ro": "Romanian",
        "ru": "Russian",
        "sa": "Sanskrit",
        "sd": "Sindhi",
        "si": "Sinhala",
        "sk": "Slovak",
        "sl": "Slovenian",
        "so": "Somali",
        "sq": "Albanian",
        "sr": "Serbian",
        "su": "Sundanese",
        "sv": "Swedish",
        "sw": "Swahili",
        "ta": "Tamil",
        "te": "Telugu",
        "th": "Thai",
        "tl": "Filipino (Tagalog)",
        "tr": "Turkish",
        "ug": "Uyghur",
        "uk": "Ukrainian",
        "ur": "Urdu",
        "uz": "Uzbek",
        "vi": "Vietnamese",
        "xh": "Xhosa",
        "yi": "Yiddish",
        "zh": "Chinese",
    }
)

ENGLISH_WEIGHT = 40.0
TIERS: Mapping[str, tuple[float, tuple[str, ...]]] = MappingProxyType(
    {
        "high": (
            2.0,
            (
                "ru",
                "id",
                "vi",
                "fa",
                "uk",
                "sv",
                "th",
                "ja",
                "de",
                "ro",
                "hu",
                "bg",
                "fr",
                "fi",
                "ko",
                "es",
                "no",
                "pt",
                "el",
                "zh",
                "da",
                "pl",
                "he",
                "it",
                "ar",
                "nl",
                "tr",
            ),
        ),
        "mid": (
            0.6,
            (
                "sk",
                "hi",
                "hr",
                "cs",
                "lt",
                "ta",
                "ca",
                "sl",
                "ka",
                "sr",
                "lv",
                "bn",
                "ms",
                "ml",
                "az",
                "kk",
                "et",
                "ur",
                "hy",
                "sq",
                "mk",
                "te",
                "be",
                "ne",
                "si",
                "is",
                "kn",
                "tl",
                "gl",
                "mn",
                "mr",
            ),
        ),
    }
)
LOW_WEIGHT = 0.2


def xlmr93_weights() -> dict[str, float]:
    """English x40, high-resource x2.0, mid x0.6, every other XLM-R language x0.2."""
    weights = {code: LOW_WEIGHT for code in XLMR_LANGUAGES}
    for weight, codes in TIERS.values():
        for code in codes:
            weights[code] = weight
    weights["en"] = ENGLISH_WEIGHT
    return weights


def english_only() -> dict[str, float]:
    return {"en": 1.0}


PRESETS = MappingProxyType({"xlmr93": xlmr93_weights, "english": english_only})


def language_weights(preset: str, override: Mapping[str, float] | None = None) -> dict[str, float]:
    """The weights a plan samples languages from; unknown codes and bad weights are errors."""
    if override:
        weights = dict(override)
    elif preset in PRESETS:
        weights = PRESETS[preset]()
    else:
        raise ConfigError(f"plan.languages: unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    unknown = sorted(set(weights) - set(XLMR_LANGUAGES))
    if unknown:
        raise ConfigError(
            f"plan.language_weights: {unknown} are not XLM-R language codes; valid: {sorted(XLMR_LANGUAGES)}"
        )
    bad = {k: v for k, v in weights.items() if not isinstance(v, (int, float)) or v < 0}
    if bad or not any(v > 0 for v in weights.values()):
        raise ConfigError(f"plan.language_weights: weights must be numbers >= 0, not all 0; got {bad or weights}")
    return {k: float(v) for k, v in weights.items() if v > 0}
