"""Gopher / C4 / FineWeb-style quality heuristics. Each threshold is a constructor argument; None disables the rule.

Defaults follow the published values: Gopher (Rae et al. 2021, DeepMind MassiveText), C4 (Raffel et al. 2020),
FineWeb (Penedo et al. 2024). Rules that assume English word statistics (stop words, mean word length) apply only
when the document's `lang` is in `english_only_langs` or unknown.
"""

from __future__ import annotations

import re

from s1data.filters.base import BaseFilter

_WORD = re.compile(r"\w+", re.U)
_STOP_WORDS = frozenset("the be to of and that have with".split())
_BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃")
_TERMINAL = (".", "!", "?", '"', "'", "”", "’", "…", ":", ")")
_C4_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def _dup_fraction(items: list[str]) -> tuple[float, float]:
    """(share of items that repeat an earlier one, share of characters in those repeats)."""
    seen: set[str] = set()
    n_dup = chars_dup = total = 0
    for it in items:
        total += len(it)
        if it in seen:
            n_dup += 1
            chars_dup += len(it)
        else:
            seen.add(it)
    return n_dup / max(len(items), 1), chars_dup / max(total, 1)


def _top_ngram_char_fraction(words: list[str], n: int) -> float:
    if len(words) < n:
        return 0.0
    counts: dict[tuple, int] = {}
    for i in range(len(words) - n + 1):
        g = tuple(words[i:i + n])
        counts[g] = counts.get(g, 0) + 1
    g, c = max(counts.items(), key=lambda kv: kv[1])
    if c < 2:
        return 0.0
    return c * sum(len(w) for w in g) / max(sum(len(w) for w in words), 1)


class GopherQualityFilter(BaseFilter):
    """Gopher quality rules: length, word length, symbol ratios, bullets/ellipses, alphabetic words, stop words."""

    name = "gopher"

    def __init__(self, min_words: int | None = 50, max_words: int | None = 100_000,
                 min_avg_word_length: float | None = 3, max_avg_word_length: float | None = 10,
                 max_symbol_word_ratio: float | None = 0.1, max_bullet_lines_ratio: float | None = 0.9,
                 max_ellipsis_lines_ratio: float | None = 0.3, max_non_alpha_words_ratio: float | None = 0.8,
                 min_stop_words: int | None = 2, english_only_langs: tuple[str, ...] = ("en",)):
        super().__init__()
        self.min_words, self.max_words = min_words, max_words
        self.min_avg, self.max_avg = min_avg_word_length, max_avg_word_length
        self.max_symbol, self.max_bullet, self.max_ellipsis = (max_symbol_word_ratio, max_bullet_lines_ratio,
                                                               max_ellipsis_lines_ratio)
        self.max_non_alpha, self.min_stop = max_non_alpha_words_ratio, min_stop_words
        self.english_only_langs = english_only_langs

    def filter(self, text, row):
        words = text.split()
        n = len(words)
        if self.min_words is not None and n < self.min_words:
            return False, "gopher_short_doc"
        if self.max_words is not None and n > self.max_words:
            return False, "gopher_long_doc"
        lang = row.get("lang")
        english = lang is None or lang in self.english_only_langs
        if english:
            avg = sum(len(w) for w in words) / max(n, 1)
            if self.min_avg is not None and avg < self.min_avg:
                return False, "gopher_below_avg_word_length"
            if self.max_avg is not None and avg > self.max_avg:
                return False, "gopher_above_avg_word_length"
        if self.max_symbol is not None and (text.count("#") + text.count("...") + text.count("…")) / max(n, 1) > self.max_symbol:
            return False, "gopher_too_many_symbols"
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if lines and self.max_bullet is not None and \
                sum(ln.lstrip().startswith(_BULLETS) for ln in lines) / len(lines) > self.max_bullet:
            return False, "gopher_too_many_bullets"
        if lines and self.max_ellipsis is not None and \
                sum(ln.rstrip().endswith(("...", "…")) for ln in lines) / len(lines) > self.max_ellipsis:
            return False, "gopher_too_many_ellipsis_lines"
        if self.max_non_alpha is not None and \
                sum(not any(c.isalpha() for c in w) for w in words) / max(n, 1) > self.max_non_alpha:
            return False, "gopher_too_many_non_alpha_words"
        if english and self.min_stop is not None and \
                len({w.lower().strip(".,;:!?\"'") for w in words} & _STOP_WORDS) < self.min_stop:
            return False, "gopher_few_stop_words"
        return True


class GopherRepetitionFilter(BaseFilter):
    """Gopher repetition rules: duplicated lines / paragraphs and over-frequent n-grams."""

    name = "gopher_rep"

    def __init__(self, dup_line_frac: float | None = 0.3, dup_para_frac: float | None = 0.3,
                 dup_line_char_frac: float | None = 0.2, dup_para_char_frac: float | None = 0.2,
                 top_2gram_frac: float | None = 0.2, top_3gram_frac: float | None = 0.18,
                 top_4gram_frac: float | None = 0.16):
        super().__init__()
        self.dup_line_frac, self.dup_para_frac = dup_line_frac, dup_para_frac
        self.dup_line_char_frac, self.dup_para_char_frac = dup_line_char_frac, dup_para_char_frac
        self.top = {2: top_2gram_frac, 3: top_3gram_frac, 4: top_4gram_frac}

    def filter(self, text, row):
        paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        pf, pcf = _dup_fraction(paras)
        if self.dup_para_frac is not None and pf > self.dup_para_frac:
            return False, "gopher_rep_dup_para_frac"
        if self.dup_para_char_frac is not None and pcf > self.dup_para_char_frac:
            return False, "gopher_rep_dup_para_char_frac"
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        lf, lcf = _dup_fraction(lines)
        if self.dup_line_frac is not None and lf > self.dup_line_frac:
            return False, "gopher_rep_dup_line_frac"
        if self.dup_line_char_frac is not None and lcf > self.dup_line_char_frac:
            return False, "gopher_rep_dup_line_char_frac"
        words = _WORD.findall(text.lower())
        for n, th in self.top.items():
            if th is not None and _top_ngram_char_fraction(words, n) > th:
                return False, f"gopher_rep_top_{n}gram"
        return True


class C4QualityFilter(BaseFilter):
    """C4 rules: drop pages with 'lorem ipsum', code braces or javascript notices; need enough terminal lines.

    C4 also *removes lines* (no terminal punctuation, javascript/cookie notices); here that line cleaning is applied
    when `remove_lines=True` and the doc is dropped only when too few good lines remain.
    """

    name = "c4"

    def __init__(self, min_sentences: int | None = 3, min_words_per_line: int | None = 3,
                 filter_lorem_ipsum: bool = True, filter_curly_bracket: bool = True,
                 filter_javascript: bool = True, filter_policy: bool = True, remove_lines: bool = True):
        super().__init__()
        self.min_sentences, self.min_words_per_line = min_sentences, min_words_per_line
        self.lorem, self.curly, self.js, self.policy = (filter_lorem_ipsum, filter_curly_bracket, filter_javascript,
                                                        filter_policy)
        self.remove_lines = remove_lines

    def filter(self, text, row):
        low = text.lower()
        if self.lorem and "lorem ipsum" in low:
            return False, "c4_lorem_ipsum"
        if self.curly and "{" in text:
            return False, "c4_curly_bracket"
        good = []
        for ln in text.splitlines():
            s = ln.strip()
            if not s:
                continue
            sl = s.lower()
            if self.js and "javascript" in sl:
                continue
            if self.policy and any(p in sl for p in _C4_POLICY):
                continue
            if self.min_words_per_line is not None and len(s.split()) < self.min_words_per_line:
                continue
            if not s.endswith(_TERMINAL):
                continue
            good.append(s)
        n_sent = sum(len(re.findall(r"[.!?](?:\s|$)", g)) for g in good)
        if self.min_sentences is not None and n_sent < self.min_sentences:
            return False, "c4_too_few_sentences"
        if self.remove_lines:
            row["_text"] = "\n".join(good)
        return True


class FineWebQualityFilter(BaseFilter):
    """FineWeb rules: share of lines ending in punctuation, share of duplicated line chars, share of short lines."""

    name = "fineweb"

    def __init__(self, min_line_punct_ratio: float | None = 0.12, max_dup_line_char_ratio: float | None = 0.1,
                 max_short_line_ratio: float | None = 0.67, short_line_chars: int = 30,
                 max_newline_per_word: float | None = 0.3):
        super().__init__()
        self.min_punct, self.max_dup, self.max_short = (min_line_punct_ratio, max_dup_line_char_ratio,
                                                        max_short_line_ratio)
        self.short_line_chars, self.max_nl = short_line_chars, max_newline_per_word

    def filter(self, text, row):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not lines:
            return False, "fineweb_empty"
        if self.min_punct is not None and sum(ln.endswith(_TERMINAL) for ln in lines) / len(lines) < self.min_punct:
            return False, "fineweb_line_punct_ratio"
        if self.max_dup is not None and _dup_fraction(lines)[1] > self.max_dup:
            return False, "fineweb_char_dup_ratio"
        if self.max_short is not None and \
                sum(len(ln) <= self.short_line_chars for ln in lines) / len(lines) > self.max_short:
            return False, "fineweb_short_line_ratio"
        if self.max_nl is not None and text.count("\n") / max(len(text.split()), 1) > self.max_nl:
            return False, "fineweb_list_ratio"
        return True
