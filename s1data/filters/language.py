"""Language id with resiliparse's built-in detector (model ships in the wheel; nothing downloaded at run time)."""

from __future__ import annotations

from s1data.filters.base import BaseFilter


def detect_language(text: str, max_chars: int = 5000) -> tuple[str | None, float]:
    """(ISO 639-1 code, confidence in [0, 1]) — resiliparse `detect_fast` returns a distance; lower is surer."""
    if not text or not text.strip():
        return None, 0.0
    from resiliparse.parse.lang import detect_fast

    lang, dist = detect_fast(text[:max_chars])
    if lang == "unknown":
        return None, 0.0
    return lang, max(0.0, 1.0 - dist / 1200.0)


class LanguageFilter(BaseFilter):
    """Keep documents in `languages` (None keeps all) whose confidence >= `min_confidence`; fills `lang`."""

    name = "lang"
    adds_columns = ("lang", "lang_score")
    memo_row_fields = ()  # the verdict and the language depend on the text alone

    def __init__(self, languages: list[str] | None = ("en",), min_confidence: float | None = 0.0,
                 min_chars: int = 20):
        super().__init__()
        self.languages = set(languages) if languages else None
        self.min_confidence, self.min_chars = min_confidence, min_chars

    def filter(self, text, row):
        if len(text.strip()) < self.min_chars:
            return False, "lang_too_short"
        lang, conf = detect_language(text)
        row["lang"], row["lang_score"] = lang, conf
        if lang is None:
            return False, "lang_unknown"
        if self.languages is not None and lang not in self.languages:
            return False, "lang_not_wanted"
        if self.min_confidence is not None and conf < self.min_confidence:
            return False, "lang_low_confidence"
        return True
