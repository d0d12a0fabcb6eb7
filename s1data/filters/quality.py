"""Gopher / C4 / FineWeb quality rules, rule for rule as published and as datatrove 0.10.1 implements them.

Each threshold is a constructor argument; `None` turns that rule off. Sources of the defaults:
- Gopher quality and repetition: Rae et al. 2021, "Scaling Language Models" (MassiveText), appendix A.1.1 and
  table A1; datatrove's `GopherQualityFilter` / `GopherRepetitionFilter` defaults are the same values.
- C4: Raffel et al. 2020 (JMLR 21), section 2.2, and TFDS `c4_utils` (citations, policy lines, 1000-char words);
  datatrove's `C4QualityFilter` defaults.
- FineWeb: Penedo et al. 2024, "The FineWeb Datasets", section 3.3 (custom filters); datatrove's
  `FineWebQualityFilter` defaults (the pipeline that built FineWeb ran them).

Words and sentences are spaCy's English rules, as datatrove's (`s1data.filters.text`: exact, cached per chunk).
Documented choices where we differ from datatrove (see `DOCUMENTED_DIFFERENCES`):
- a threshold of 0 is a threshold (datatrove treats 0 like None, as it tests truthiness);
- text without a single word is dropped with a reason (`gopher_empty`) instead of datatrove's ZeroDivisionError;
- the English-only Gopher rules (mean word length, stop words) are skipped for documents whose `lang` is known and
  not English, and every language is tokenised with the English rules (datatrove picks a tokenizer per language).
"""

from __future__ import annotations

import re
from collections import Counter
from bisect import bisect_left
from itertools import accumulate, compress
from operator import itemgetter, mul, sub

from s1data.filters import text as T
from s1data.filters.base import BaseFilter

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Rae et al. 2021, A.1.1
GOPHER_TOP_NGRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))  # Rae et al. 2021, table A1
GOPHER_DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))  # table A1
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")  # Raffel et al. 2020: "! . \" ?" (TFDS adds the single quote)
C4_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")  # TFDS c4_utils: Wikipedia-style citations
C4_POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                        "use cookies")  # TFDS c4_utils

DOCUMENTED_DIFFERENCES = {
    "zero_threshold": "a threshold of 0 is applied (datatrove tests truthiness, so 0 switches its rule off)",
    "no_words": "text without a word is dropped as gopher_empty (datatrove raises ZeroDivisionError)",
    "non_english": "English-only Gopher rules skipped for a known non-English `lang`; English tokenisation for all",
}

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier item, characters in them): datatrove's `find_duplicates`."""
    seen: set[str] = set()
    n = chars = 0
    for it in items:
        if it in seen:
            n += 1
            chars += len(it)
        else:
            seen.add(it)
    return n, chars


def _offsets(words: list[str], sep: int) -> list[int]:
    """Start of each word (and the end, plus `sep`) in `(" " if sep else "").join(words)`."""
    return list(accumulate(map(len, words) if not sep else map(sep.__add__, map(len, words)), initial=0))


def top_ngram_chars(words: list[str], n: int, spaced: str | None = None, starts: list[int] | None = None) -> int:
    """len(most frequent n-gram, words joined by spaces) * its count; ties go to the earliest n-gram (datatrove)."""
    if len(words) < n:
        return 0
    spaced = " ".join(words) if spaced is None else spaced
    starts = _offsets(words, 1) if starts is None else starts
    grams = Counter(map(spaced.__getitem__, map(slice, starts[:-n], [e - 1 for e in starts[n:]])))
    gram, count = max(grams.items(), key=itemgetter(1))
    return len(gram) * count


def repeat_candidates(joined: str, starts: list[int], n_min: int) -> list[int]:
    """Word positions that may start a repeated n-gram for any n >= n_min (ascending); the others never can.

    Every such n-gram starting at a candidate is at least K = min(joined length of an n_min-gram at a candidate)
    characters long, so two equal n-grams have equal first K characters: a position whose K-character prefix is
    unique among the candidates starts no repeat. Dropping those raises K; we repeat that a few times.
    """
    m = len(starts) - n_min  # number of n_min-grams (starts has one more entry than words)
    cand = list(range(m))
    for _ in range(3):
        if len(cand) <= 1:
            return []
        lo = list(map(starts.__getitem__, cand))
        k = min(map(sub, map(starts.__getitem__, map(n_min.__add__, cand)), lo))
        keys = list(map(joined.__getitem__, map(slice, lo, map(k.__add__, lo))))
        counts = Counter(keys)
        if len(counts) == len(keys):
            return []
        kept = list(compress(cand, map((1).__lt__, map(counts.__getitem__, keys))))
        if len(kept) == len(cand):
            break
        cand = kept
    return cand


def duplicated_ngram_chars(words: list[str], n: int, joined: str | None = None, starts: list[int] | None = None,
                           candidates: list[int] | None = None) -> int:
    """Characters in repeated n-grams (words joined without spaces), scanning left to right and jumping over a
    repeat, so overlapping repeats count once: datatrove's `find_all_duplicate`.

    Only n-grams that occur more than once can be found in datatrove's `seen` set; a unique one at a visited
    position only moves the scan on by one. So we walk the positions of repeated n-grams alone (among
    `repeat_candidates`), with datatrove's jump over a counted repeat: the same count, without a pass per word.
    """
    m = len(words) - n + 1
    if m <= 1:
        return 0
    joined = "".join(words) if joined is None else joined
    starts = _offsets(words, 0) if starts is None else starts
    cand = repeat_candidates(joined, starts, n) if candidates is None else candidates
    cand = cand[:bisect_left(cand, m)]
    if len(cand) < 2:
        return 0
    grams = list(map(joined.__getitem__, map(slice, map(starts.__getitem__, cand),
                                             map(starts.__getitem__, map(n.__add__, cand)))))
    counts = Counter(grams)
    if len(counts) == len(grams):
        return 0
    seen: set[str] = set()
    chars = nxt = 0
    for i, g in zip(cand, grams):
        if i < nxt or counts[g] < 2:  # jumped over (inside a counted repeat), or unique: never in `seen` again
            continue
        if g in seen:
            chars += len(g)
            nxt = i + n
        else:
            seen.add(g)
    return chars


class GopherQualityFilter(BaseFilter):
    """Gopher quality rules (Rae et al. 2021, A.1.1): length, mean word length, # and ellipsis per word, bullet and
    ellipsis lines, words with a letter, stop words. Reasons: gopher_short_doc, gopher_long_doc, gopher_empty,
    gopher_below_avg_word_length, gopher_above_avg_word_length, gopher_too_many_hashes, gopher_too_many_ellipsis,
    gopher_too_many_bullets, gopher_too_many_ellipsis_lines, gopher_too_many_non_alpha_words, gopher_few_stop_words.
    """

    name = "gopher"
    memo_row_fields = ("lang",)  # the verdict depends on the text and lang alone

    def __init__(self, min_words: int | None = 50, max_words: int | None = 100_000,
                 min_avg_word_length: float | None = 3, max_avg_word_length: float | None = 10,
                 max_symbol_word_ratio: float | None = 0.1, max_bullet_lines_ratio: float | None = 0.9,
                 max_ellipsis_lines_ratio: float | None = 0.3, min_alpha_words_ratio: float | None = 0.8,
                 min_stop_words: int | None = 2, stop_words: tuple[str, ...] = GOPHER_STOP_WORDS,
                 english_only_langs: tuple[str, ...] = ("en",), **legacy):
        super().__init__()
        if "max_non_alpha_words_ratio" in legacy:  # datatrove's (misnamed) parameter: the *minimum* alpha share
            min_alpha_words_ratio = legacy.pop("max_non_alpha_words_ratio")
        if legacy:
            raise TypeError(f"unknown GopherQualityFilter arguments: {sorted(legacy)}")
        self.min_words, self.max_words = min_words, max_words
        self.min_avg, self.max_avg = min_avg_word_length, max_avg_word_length
        self.max_symbol, self.max_bullet, self.max_ellipsis = (max_symbol_word_ratio, max_bullet_lines_ratio,
                                                               max_ellipsis_lines_ratio)
        self.min_alpha, self.min_stop = min_alpha_words_ratio, min_stop_words
        self.stop_words = frozenset(stop_words)
        self.english_only_langs = english_only_langs

    def filter(self, text, row):
        infos = T.chunk_infos(text)
        n_tokens = n_words = word_chars = n_alpha = 0
        for info in infos:
            n_tokens += info.n_tokens
            n_words += info.n_word
            word_chars += info.word_chars
            n_alpha += info.n_alpha
        # words = tokens with a character that is not punctuation (a lone "," or "..." is not a word)
        if self.min_words is not None and n_words < self.min_words:
            return False, "gopher_short_doc"
        if self.max_words is not None and n_words > self.max_words:
            return False, "gopher_long_doc"
        if n_words == 0:
            return False, "gopher_empty"
        lang = row.get("lang")
        english = lang is None or lang in self.english_only_langs
        if english:
            avg = word_chars / n_words
            if self.min_avg is not None and avg < self.min_avg:
                return False, "gopher_below_avg_word_length"
            if self.max_avg is not None and avg > self.max_avg:
                return False, "gopher_above_avg_word_length"
        # symbol-to-word ratio over every token (punctuation included), for # and for ellipses
        if self.max_symbol is not None:
            if text.count("#") / n_tokens > self.max_symbol:
                return False, "gopher_too_many_hashes"
            if (text.count("...") + text.count("…")) / n_tokens > self.max_symbol:
                return False, "gopher_too_many_ellipsis"
        lines = text.splitlines()  # empty lines count in the denominators, as in datatrove
        if self.max_bullet is not None and \
                sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines) > self.max_bullet:
            return False, "gopher_too_many_bullets"
        if self.max_ellipsis is not None and \
                sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines) > self.max_ellipsis:
            return False, "gopher_too_many_ellipsis_lines"
        # "80% of words in a document contain at least one alphabetic character" (tokens, punctuation included)
        if self.min_alpha is not None and n_alpha / n_tokens < self.min_alpha:
            return False, "gopher_too_many_non_alpha_words"
        if english and self.min_stop is not None:
            found: set[str] = set()
            stop = self.stop_words
            for info in infos:
                for t in info.tokens:
                    if t in stop:
                        found.add(t)
                if len(found) >= self.min_stop:
                    break
            if len(found) < self.min_stop:
                return False, "gopher_few_stop_words"
        return True


class GopherRepetitionFilter(BaseFilter):
    """Gopher repetition rules (Rae et al. 2021, table A1): duplicated paragraphs and lines (share of items and of
    characters), the most frequent 2..4-gram's character share, and the share of characters in duplicated 5..10-grams.
    Reasons: gopher_rep_empty, gopher_rep_dup_para_frac, gopher_rep_dup_para_char_frac, gopher_rep_dup_line_frac,
    gopher_rep_dup_line_char_frac, gopher_rep_top_{n}gram, gopher_rep_dup_{n}gram.
    """

    name = "gopher_rep"
    memo_row_fields = ()  # the verdict depends on the text alone

    def __init__(self, dup_line_frac: float | None = 0.3, dup_para_frac: float | None = 0.3,
                 dup_line_char_frac: float | None = 0.2, dup_para_char_frac: float | None = 0.2,
                 top_2gram_frac: float | None = 0.2, top_3gram_frac: float | None = 0.18,
                 top_4gram_frac: float | None = 0.16, dup_5gram_frac: float | None = 0.15,
                 dup_6gram_frac: float | None = 0.14, dup_7gram_frac: float | None = 0.13,
                 dup_8gram_frac: float | None = 0.12, dup_9gram_frac: float | None = 0.11,
                 dup_10gram_frac: float | None = 0.10):
        super().__init__()
        self.dup_line_frac, self.dup_para_frac = dup_line_frac, dup_para_frac
        self.dup_line_char_frac, self.dup_para_char_frac = dup_line_char_frac, dup_para_char_frac
        self.top = [(n, f) for n, f in ((2, top_2gram_frac), (3, top_3gram_frac), (4, top_4gram_frac))
                    if f is not None]
        self.dup = [(n, f) for n, f in ((5, dup_5gram_frac), (6, dup_6gram_frac), (7, dup_7gram_frac),
                                        (8, dup_8gram_frac), (9, dup_9gram_frac), (10, dup_10gram_frac))
                    if f is not None]

    def filter(self, text, row):
        if not text:
            return False, "gopher_rep_empty"
        n_chars = len(text)
        paras = _PARAGRAPHS.split(text.strip())
        n_dup, dup_chars = _duplicates(paras)
        if self.dup_para_frac is not None and n_dup / len(paras) > self.dup_para_frac:
            return False, "gopher_rep_dup_para_frac"
        if self.dup_para_char_frac is not None and dup_chars / n_chars > self.dup_para_char_frac:
            return False, "gopher_rep_dup_para_char_frac"
        lines = _LINES.split(text)
        n_dup, dup_chars = _duplicates(lines)
        if self.dup_line_frac is not None and n_dup / len(lines) > self.dup_line_frac:
            return False, "gopher_rep_dup_line_frac"
        if self.dup_line_char_frac is not None and dup_chars / n_chars > self.dup_line_char_frac:
            return False, "gopher_rep_dup_line_char_frac"
        if not (self.top or self.dup):
            return True
        spaced = T.spaced_words(text)
        words = spaced.split(" ") if spaced else []
        if self.top and words:
            # The top n-gram's count c is at most the count of each of its words, so its c * (chars + n - 1) is
            # below n * max over words of count * (len + 1): when that bound passes, the rule passes uncounted.
            unigrams = Counter(words)
            bound = max(map(mul, unigrams.values(), map((1).__add__, map(len, unigrams))))
            starts = None
            for n, frac in self.top:
                if n * bound / n_chars <= frac:
                    continue
                starts = _offsets(words, 1) if starts is None else starts
                if top_ngram_chars(words, n, spaced, starts) / n_chars > frac:
                    return False, f"gopher_rep_top_{n}gram"
        if self.dup:
            joined, starts = spaced.replace(" ", ""), _offsets(words, 0)
            if len(joined) / n_chars > min(f for _, f in self.dup):  # else no n-gram share can pass its threshold
                cand = repeat_candidates(joined, starts, min(n for n, _ in self.dup))
                for n, frac in self.dup:
                    if cand and duplicated_ngram_chars(words, n, joined, starts, cand) / n_chars > frac:
                        return False, f"gopher_rep_dup_{n}gram"
        return True


class C4QualityFilter(BaseFilter):
    """C4 rules (Raffel et al. 2020; TFDS c4_utils), line by line: drop lines with a word over `max_word_length`
    chars, remove citations, keep only lines ending in terminal punctuation (not an ellipsis) with at least
    `min_words_per_line` words, drop the page on 'lorem ipsum' or '{' in a kept line, remove lines mentioning
    javascript or a cookie / terms-of-use policy; drop the page with fewer than `min_sentences` sentences in the kept
    lines. With `remove_lines` the kept text becomes the kept lines. Reasons: c4_lorem_ipsum, c4_curly_bracket,
    c4_too_few_sentences.
    """

    name = "c4"
    memo_row_fields = ()  # the verdict depends on the text alone

    def __init__(self, min_sentences: int | None = 5, min_words_per_line: int | None = 3,
                 max_word_length: int | None = 1000, remove_citations: bool = True,
                 filter_no_terminal_punct: bool = True, filter_lorem_ipsum: bool = True,
                 filter_curly_bracket: bool = True, filter_javascript: bool = True, filter_policy: bool = True,
                 remove_lines: bool = True):
        super().__init__()
        self.min_sentences, self.min_words_per_line = min_sentences, min_words_per_line
        self.max_word_length, self.remove_citations = max_word_length, remove_citations
        self.terminal = filter_no_terminal_punct
        self.lorem, self.curly, self.js, self.policy = (filter_lorem_ipsum, filter_curly_bracket, filter_javascript,
                                                        filter_policy)
        self.remove_lines = remove_lines

    def filter(self, text, row):
        n_sentences = 0
        kept = []
        for line in text.splitlines():
            line = line.strip()
            words = line.split()
            if self.max_word_length is not None and any(len(w) > self.max_word_length for w in words):
                continue
            if self.remove_citations and "[" in line:
                line = C4_CITATION.sub("", line)
            if self.terminal and (not line.endswith(C4_END_PUNCTUATION) or line.endswith("...")):
                continue
            if self.min_words_per_line is not None and len(words) < self.min_words_per_line:
                continue
            low = line.lower()
            if self.lorem and "lorem ipsum" in low:
                return False, "c4_lorem_ipsum"
            if self.js and "javascript" in low:
                continue
            if self.curly and "{" in line:
                return False, "c4_curly_bracket"
            if self.policy and any(p in low for p in C4_POLICY_SUBSTRINGS):
                continue
            if self.min_sentences is not None and n_sentences < self.min_sentences:  # enough once it is reached
                n_sentences += T.sentence_count(line)
            kept.append(line)
        if self.min_sentences is not None and n_sentences < self.min_sentences:
            return False, "c4_too_few_sentences"
        if self.remove_lines:
            row["_text"] = "\n".join(kept).strip()
        return True


class FineWebQualityFilter(BaseFilter):
    """FineWeb rules (Penedo et al. 2024, 3.3) over the non-blank lines (split on \\n, not stripped): share of lines
    ending in terminal punctuation, share of short lines, share of characters in duplicated lines, newlines per word.
    Reasons: fineweb_empty, fineweb_line_punct_ratio, fineweb_short_line_ratio, fineweb_char_dup_ratio,
    fineweb_list_ratio.
    """

    name = "fineweb"
    memo_row_fields = ()  # the verdict depends on the text alone

    def __init__(self, min_line_punct_ratio: float | None = 0.12, max_dup_line_char_ratio: float | None = 0.01,
                 max_short_line_ratio: float | None = 0.67, short_line_chars: int = 30,
                 max_newline_per_word: float | None = 0.3, line_punct_exclude_zero: bool = False,
                 stop_chars: tuple[str, ...] | None = None):
        super().__init__()
        self.min_punct, self.max_dup, self.max_short = (min_line_punct_ratio, max_dup_line_char_ratio,
                                                        max_short_line_ratio)
        self.short_line_chars, self.max_nl = short_line_chars, max_newline_per_word
        self.exclude_zero = line_punct_exclude_zero
        self.stop_chars = tuple(stop_chars) if stop_chars is not None else None

    def filter(self, text, row):
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return False, "fineweb_empty"
        if self.min_punct is not None:
            stop = self.stop_chars or T.terminal_punctuation()
            ratio = sum(ln.endswith(stop) for ln in lines) / len(lines)
            if ratio < self.min_punct and not (ratio == 0 and self.exclude_zero):
                return False, "fineweb_line_punct_ratio"
        if self.max_short is not None and \
                sum(len(ln) <= self.short_line_chars for ln in lines) / len(lines) > self.max_short:
            return False, "fineweb_short_line_ratio"
        if self.max_dup is not None and \
                _duplicates(lines)[1] / (len(text) - text.count("\n")) > self.max_dup:
            return False, "fineweb_char_dup_ratio"
        if self.max_nl is not None:
            n_nl = text.count("\n")
            # tokens >= whitespace chunks: when the ratio passes over chunks it passes over tokens, no need to tokenize
            if n_nl > self.max_nl * len(text.split()) and \
                    n_nl / sum(i.n_tokens for i in T.chunk_infos(text)) > self.max_nl:
                return False, "fineweb_list_ratio"
        return True
