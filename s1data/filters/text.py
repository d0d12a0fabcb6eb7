"""Words and sentences exactly as datatrove splits English text, at a fraction of its cost.

datatrove 0.10.1 splits English words with spaCy's rule-based tokenizer (`spacy.blank("en")`, its
`SpaCyTokenizer`) and counts sentences with spaCy's `sentencizer`. spaCy's tokenizer cuts the text at whitespace
and tokenizes each whitespace-free chunk on its own (prefixes, suffixes, infixes, special cases such as
"cannot" -> "can" "not"); so the words of a text are the concatenation of the words of its chunks. We ask spaCy
once per *distinct* chunk and keep the answer in a bounded per-process cache: real text is Zipfian, so after a
few thousand documents almost every chunk is a cache hit and a document costs one `str.split` and dict lookups
instead of a spaCy `Doc` per document. The result is the same token list (the differential test checks it).

Per chunk we keep what the quality rules need: the tokens, and per token whether it is a "symbol word" (every
character in datatrove's PUNCTUATION_SET), whether it has a letter, spaCy's `is_punct`, and whether it is one of
the sentencizer's `punct_chars`.
"""

from __future__ import annotations

from functools import lru_cache

from s1data.filters.base import cache_bound
from s1data.filters.punctuation import PUNCTUATION_SET, TERMINAL_PUNCTUATION

# Per process, scaled by $S1_CACHE_MB (s1data.filters.base.cache_bound): distinct whitespace chunks kept (both caches
# ~0.5 kB a chunk, ~50 MB), cleared when full; spaCy's vocabulary and tokenizer cache (~0.9 kB a lexeme, ~70 MB),
# reloaded at a clear once they hold more lexemes than this
CACHE_MAX_CHUNKS = cache_bound(100_000)
SPACY_MAX_LEXEMES = cache_bound(75_000)


class ChunkInfo:
    """What the rules need about one whitespace-free chunk: its spaCy tokens and per-token flags."""

    __slots__ = ("tokens", "n_tokens", "n_word", "word_chars", "n_alpha", "sent_flags")

    def __init__(self, tokens: tuple[str, ...], n_word: int, word_chars: int, n_alpha: int,
                 sent_flags: tuple[int, ...]):
        self.tokens = tokens
        self.n_tokens = len(tokens)
        self.n_word = n_word  # tokens with a character outside PUNCTUATION_SET (datatrove's "non-symbol words")
        self.word_chars = word_chars  # their total length
        self.n_alpha = n_alpha  # tokens with an alphabetic character
        self.sent_flags = sent_flags  # per token: 2 = sentencizer punct char, 1 = other is_punct, 0 = neither


@lru_cache(1)
def _spacy_english():
    """spaCy's blank English pipeline (rules ship in the wheel; nothing is downloaded) and its sentencizer chars.

    spaCy imports thinc, which imports torch when it can (1.4 of spaCy's 2.5 CPU-s of import, in every process
    that curates); the tokenizer rules never use it, so unless torch is already loaded it is hidden during the
    import (thinc then records has_torch = False) and importable again afterwards."""
    import sys

    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # `import torch` raises ImportError while this is set
    try:
        import spacy
    finally:
        if hide and "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]

    nlp = spacy.blank("en")
    punct_chars = frozenset(nlp.add_pipe("sentencizer").punct_chars)
    return nlp, punct_chars


def _punctuation_set() -> frozenset:
    return PUNCTUATION_SET


@lru_cache(1)
def terminal_punctuation() -> tuple[str, ...]:
    """datatrove's TERMINAL_PUNCTUATION (Unicode sentence terminals), FineWeb's line-end characters."""
    return tuple(sorted(TERMINAL_PUNCTUATION))


_CACHE: dict[str, ChunkInfo] = {}
_SPACED: dict[str, str] = {}  # chunk -> its tokens joined by single spaces (tokens never contain whitespace)


def _info(tokens: list[tuple[str, bool]], punct_set: frozenset, punct_chars: frozenset) -> ChunkInfo:
    toks, flags = [], []
    n_word = word_chars = n_alpha = 0
    for s, is_punct in tokens:
        if not s.strip():  # datatrove's strip_strings drops empty / whitespace tokens
            continue
        toks.append(s)
        if any(c not in punct_set for c in s):
            n_word += 1
            word_chars += len(s)
        if any(c.isalpha() for c in s):
            n_alpha += 1
        flags.append(2 if s in punct_chars else 1 if is_punct else 0)
    return ChunkInfo(tuple(toks), n_word, word_chars, n_alpha, tuple(flags))


def _make_room(n_new: int) -> bool:
    """Clear both caches when `n_new` more chunks would not fit, so memory stays bounded by CACHE_MAX_CHUNKS; and
    spaCy's pipeline with them once its vocabulary (which grows with every new token, with its tokenizer's cache)
    holds more than SPACY_MAX_LEXEMES entries. Kept otherwise: a fresh pipeline re-creates every lexeme it meets,
    which cost more than the chunk tokenization itself at a small budget. True when it cleared."""
    if len(_CACHE) + n_new <= CACHE_MAX_CHUNKS:
        return False
    _CACHE.clear()
    _SPACED.clear()
    if _spacy_english.cache_info().currsize and len(_spacy_english()[0].vocab) > SPACY_MAX_LEXEMES:
        _spacy_english.cache_clear()
    return True


def _fill(chunks: list[str]) -> None:
    """Tokenize new chunks with one spaCy call (chunks joined by single spaces are tokenized chunk by chunk) and
    cache what the rules need. The caller makes room first."""
    nlp, punct_chars = _spacy_english()
    punct_set = _punctuation_set()
    per: list[list[tuple[str, bool]]] = [[] for _ in chunks]
    k = 0
    for t in nlp.tokenizer(" ".join(chunks)):
        per[k].append((t.text, t.is_punct))
        if t.whitespace_:
            k += 1
    if k != len(chunks) - 1:  # not one token run per chunk (cannot happen with spaCy's rules): go one by one
        per = [[(t.text, t.is_punct) for t in nlp.tokenizer(c)] for c in chunks]
    for c, toks in zip(chunks, per):
        _CACHE[c] = _info(toks, punct_set, punct_chars)


def chunk_info(chunk: str) -> ChunkInfo:
    """The ChunkInfo of one whitespace-free chunk."""
    info = _CACHE.get(chunk)
    return info if info is not None else chunk_infos(chunk)[0]


def chunk_infos(text: str) -> list[ChunkInfo]:
    """The ChunkInfo of every whitespace-separated chunk of `text`, in order."""
    chunks = text.split()
    missing = set(chunks).difference(_CACHE)
    if missing:
        if _make_room(len(missing)):
            missing = set(chunks)
        _fill(list(missing))
    return list(map(_CACHE.__getitem__, chunks))


def spaced_words(text: str) -> str:
    """The words of `text` joined by single spaces, built in C from the per-chunk cache (no per-word Python)."""
    chunks = text.split()
    missing = set(chunks).difference(_SPACED)
    if missing:
        if _make_room(len(missing)):
            missing = set(chunks)
        missing = list(missing)
        for c, info in zip(missing, chunk_infos(" ".join(missing))):  # cannot clear again: there is room
            _SPACED[c] = " ".join(info.tokens)
    return " ".join(map(_SPACED.__getitem__, chunks))


def words(text: str) -> list[str]:
    """datatrove's `split_into_words(text, "eng")`: spaCy English tokens, whitespace tokens dropped."""
    spaced = spaced_words(text)
    return spaced.split(" ") if spaced else []


def sentence_count(line: str) -> int:
    """len(datatrove's `split_into_sentences(line, "eng")`) for a stripped line: spaCy's sentencizer rule.

    A sentence starts at the first token; a new one starts at a token that is neither punctuation nor a
    sentence-final character once such a character (`.`, `!`, `?`, ...) has been seen. Between chunks, a run of
    whitespace longer than one space is a token of its own for spaCy (not punctuation), so it can start a sentence.
    """
    chunks = line.split()
    single_spaced = " ".join(chunks) == line  # then no whitespace token between chunks
    n = 1
    seen = False
    prev_end = None
    pos = 0
    for chunk in chunks:
        if not single_spaced:
            start = line.find(chunk, pos)
            if prev_end is not None and seen and line[prev_end:start] != " ":
                n += 1  # spaCy keeps one trailing space on the token; anything more is a whitespace token
                seen = False
            pos = prev_end = start + len(chunk)
        for f in chunk_info(chunk).sent_flags:
            if f == 2:
                seen = True
            elif seen and f == 0:
                n += 1
                seen = False
    return n
