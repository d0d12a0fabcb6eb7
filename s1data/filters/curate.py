"""`curate(docs, config)`: language id → Gopher quality → Gopher repetition → C4 → FineWeb → PII scrub.

Every dropped document is an exclusion row with `filter` and `reason`; kept rows gain `lang`, `lang_score` and
`pii_count` and have their PII replaced by placeholder tokens.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from pydantic import BaseModel, Field, model_validator

from s1data.filters.language import LanguageFilter
from s1data.filters.pii import scrub_pii
from s1data.filters.quality import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter


class LanguageConfig(BaseModel):
    languages: list[str] | None = Field(["en"], description="ISO 639-1 codes to keep; null keeps every language.")
    min_confidence: float | None = Field(0.0, description="Minimum detector confidence in [0,1]; null disables.")


_GOPHER = "Rae et al. 2021 (Gopher, MassiveText) A.1.1 / table A1 = datatrove 0.10.1 default"


class GopherConfig(BaseModel):
    """Gopher quality and repetition rules; every threshold `null` turns its rule off."""

    enabled: bool = Field(True, description="Run the Gopher quality and repetition rules.")
    min_words: int | None = Field(50, description="Fewer words (tokens with a non-punctuation character) → "
                                  f"gopher_short_doc. {_GOPHER}.")
    max_words: int | None = Field(100_000, description=f"More words → gopher_long_doc. {_GOPHER}.")
    min_avg_word_length: float | None = Field(3, description="English only: mean word length below → "
                                              f"gopher_below_avg_word_length. {_GOPHER}.")
    max_avg_word_length: float | None = Field(10, description="English only: mean word length above → "
                                              f"gopher_above_avg_word_length. {_GOPHER}.")
    max_symbol_word_ratio: float | None = Field(0.1, description="'#' per token above → gopher_too_many_hashes; "
                                                "ellipses ('...', '…') per token above → gopher_too_many_ellipsis. "
                                                f"{_GOPHER}.")
    max_bullet_lines_ratio: float | None = Field(0.9, description="Share of lines starting with '•' or '-' above → "
                                                 f"gopher_too_many_bullets. {_GOPHER}.")
    max_ellipsis_lines_ratio: float | None = Field(0.3, description="Share of lines ending with an ellipsis above → "
                                                   f"gopher_too_many_ellipsis_lines. {_GOPHER}.")
    min_alpha_words_ratio: float | None = Field(0.8, description="Share of tokens with an alphabetic character "
                                                "below → gopher_too_many_non_alpha_words (datatrove calls it "
                                                f"max_non_alpha_words_ratio). {_GOPHER}.")
    min_stop_words: int | None = Field(2, description="English only: fewer distinct stop words (the, be, to, of, "
                                       "and, that, have, with; case-sensitive tokens) → gopher_few_stop_words. "
                                       f"{_GOPHER}.")
    dup_line_frac: float | None = Field(0.3, description="Share of lines equal to an earlier line above → "
                                        f"gopher_rep_dup_line_frac. {_GOPHER}.")
    dup_para_frac: float | None = Field(0.3, description="Share of paragraphs equal to an earlier one above → "
                                        f"gopher_rep_dup_para_frac. {_GOPHER}.")
    dup_line_char_frac: float | None = Field(0.2, description="Characters in duplicated lines / all characters "
                                             f"above → gopher_rep_dup_line_char_frac. {_GOPHER}.")
    dup_para_char_frac: float | None = Field(0.2, description="Characters in duplicated paragraphs / all "
                                             f"characters above → gopher_rep_dup_para_char_frac. {_GOPHER}.")
    top_2gram_frac: float | None = Field(0.2, description="Characters in the most frequent word 2-gram (x count) "
                                         f"/ all characters above → gopher_rep_top_2gram. {_GOPHER}.")
    top_3gram_frac: float | None = Field(0.18, description="As top_2gram_frac for 3-grams → gopher_rep_top_3gram. "
                                         f"{_GOPHER}.")
    top_4gram_frac: float | None = Field(0.16, description="As top_2gram_frac for 4-grams → gopher_rep_top_4gram. "
                                         f"{_GOPHER}.")
    dup_5gram_frac: float | None = Field(0.15, description="Characters in duplicated word 5-grams / all "
                                         f"characters above → gopher_rep_dup_5gram. {_GOPHER}.")
    dup_6gram_frac: float | None = Field(0.14, description=f"As dup_5gram_frac for 6-grams. {_GOPHER}.")
    dup_7gram_frac: float | None = Field(0.13, description=f"As dup_5gram_frac for 7-grams. {_GOPHER}.")
    dup_8gram_frac: float | None = Field(0.12, description=f"As dup_5gram_frac for 8-grams. {_GOPHER}.")
    dup_9gram_frac: float | None = Field(0.11, description=f"As dup_5gram_frac for 9-grams. {_GOPHER}.")
    dup_10gram_frac: float | None = Field(0.10, description=f"As dup_5gram_frac for 10-grams. {_GOPHER}.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_alpha_name(cls, data):
        """`max_non_alpha_words_ratio` (datatrove's name, and ours before) means the minimum alpha share."""
        if isinstance(data, dict) and "max_non_alpha_words_ratio" in data:
            data = dict(data)
            data.setdefault("min_alpha_words_ratio", data.pop("max_non_alpha_words_ratio"))
        return data


_C4 = "Raffel et al. 2020 (C4) 2.2 / TFDS c4_utils = datatrove 0.10.1 default"


class C4Config(BaseModel):
    """C4 line and page rules; `null` / false turns a rule off."""

    enabled: bool = Field(True, description="Run the C4 rules.")
    min_sentences: int | None = Field(5, description="Fewer sentences (spaCy sentencizer) in the kept lines → "
                                      f"c4_too_few_sentences. {_C4}.")
    min_words_per_line: int | None = Field(3, description=f"Lines with fewer whitespace words are not kept. {_C4}.")
    max_word_length: int | None = Field(1000, description="Lines with a longer word are not kept. TFDS c4_utils "
                                        "= datatrove default.")
    remove_citations: bool = Field(True, description="Delete [1], [edit], [citation needed] from lines. TFDS "
                                   "c4_utils = datatrove default.")
    filter_no_terminal_punct: bool = Field(True, description="Keep only lines ending in . ? ! \" ' (not '...'). "
                                           f"{_C4}.")
    filter_lorem_ipsum: bool = Field(True, description=f"'lorem ipsum' in a kept line → c4_lorem_ipsum. {_C4}.")
    filter_curly_bracket: bool = Field(False, description="'{' in a kept line → c4_curly_bracket. C4 and datatrove "
                                       "turn it on; off here by default because science text has LaTeX and code.")
    filter_javascript: bool = Field(True, description=f"Lines mentioning javascript are not kept. {_C4}.")
    filter_policy: bool = Field(True, description="Cookie / privacy-policy / terms-of-use lines are not kept. "
                                "TFDS c4_utils = datatrove default.")
    remove_lines: bool = Field(False, description="Rewrite the kept text to its C4-kept lines, as C4 and datatrove "
                               "do (off by default: it drops headings, formulas and list items without end "
                               "punctuation). The keep/drop decision is the same either way.")


_FW = "Penedo et al. 2024 (FineWeb) 3.3 = datatrove 0.10.1 default"


class FineWebConfig(BaseModel):
    """FineWeb line rules over the non-blank lines; `null` turns a rule off."""

    enabled: bool = Field(True, description="Run the FineWeb rules.")
    min_line_punct_ratio: float | None = Field(0.12, description="Share of lines ending in terminal punctuation "
                                               f"(Unicode sentence terminals) below → fineweb_line_punct_ratio. {_FW}.")
    max_dup_line_char_ratio: float | None = Field(0.01, description="Characters in duplicated lines / characters "
                                                  "(newlines excluded) above → fineweb_char_dup_ratio. datatrove "
                                                  "default char_duplicates_ratio=0.01, which the FineWeb run used; "
                                                  "the paper's prose says 0.1.")
    max_short_line_ratio: float | None = Field(0.67, description="Share of lines of at most short_line_chars "
                                               f"characters above → fineweb_short_line_ratio. {_FW}.")
    short_line_chars: int = Field(30, description=f"A line this long or shorter is short. {_FW}.")
    max_newline_per_word: float | None = Field(0.3, description="Newlines per word (spaCy token) above → "
                                               f"fineweb_list_ratio. {_FW}.")
    line_punct_exclude_zero: bool = Field(False, description="Do not drop pages where no line ends in punctuation "
                                          f"(for languages without it). {_FW}.")


class PiiConfig(BaseModel):
    emails: bool = Field(True, description="Replace e-mail addresses by <EMAIL>.")
    phones: bool = Field(True, description="Replace phone numbers (9–15 digits in separated groups) by <PHONE>.")
    ips: bool = Field(True, description="Replace non-loopback IPv4/IPv6 addresses by <IP>.")


class CurationConfig(BaseModel):
    """Which curation blocks run, in order, and their thresholds (defaults: published Gopher/C4/FineWeb values)."""

    language: LanguageConfig | None = Field(default_factory=LanguageConfig, description="null: no language id.")
    gopher: GopherConfig = Field(default_factory=GopherConfig)
    c4: C4Config = Field(default_factory=C4Config)
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig)
    pii: PiiConfig | None = Field(default_factory=PiiConfig, description="null: no PII scrub.")


def build_filters(config: CurationConfig) -> list:
    """The filter blocks of a config, in the order they run."""
    blocks = []
    if config.language is not None:
        blocks.append(LanguageFilter(config.language.languages, config.language.min_confidence))
    g = config.gopher.model_dump()
    if g.pop("enabled"):
        rep_keys = ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac", "top_2gram_frac",
                    "top_3gram_frac", "top_4gram_frac", *(f"dup_{n}gram_frac" for n in range(5, 11)))
        blocks.append(GopherQualityFilter(**{k: v for k, v in g.items() if k not in rep_keys}))
        blocks.append(GopherRepetitionFilter(**{k: g[k] for k in rep_keys}))
    c4 = config.c4.model_dump()
    if c4.pop("enabled"):
        blocks.append(C4QualityFilter(**c4))
    fw = config.fineweb.model_dump()
    if fw.pop("enabled"):
        blocks.append(FineWebQualityFilter(**fw))
    return blocks


def curate(docs: pa.Table, config: CurationConfig | None = None) -> tuple[pa.Table, pa.Table]:
    """(kept documents, excluded documents with `filter` and `reason`); input columns are preserved."""
    config = config or CurationConfig()
    kept = docs
    excluded_parts = []
    stats: Counter = Counter()
    for block in build_filters(config):
        kept, excluded = block.run(kept)
        if excluded.num_rows:
            excluded_parts.append(excluded)
        stats.update({f"{block.name}:{k}": v for k, v in block.stats.items()})
    if config.pii is not None and kept.num_rows:
        texts, counts = [], []
        for t in kept.column("text").to_pylist():
            t2, c = scrub_pii(t or "", **config.pii.model_dump())
            texts.append(t2)
            counts.append(sum(c.values()))
        kept = kept.set_column(kept.column_names.index("text"), "text", pa.array(texts, pa.string()))
        kept = kept.append_column("pii_count", pa.array(counts, pa.int32()))
    if excluded_parts:
        excluded = pa.concat_tables(excluded_parts, promote_options="permissive")
    else:
        excluded = docs.schema.empty_table().append_column("filter", pa.array([], pa.string())) \
            .append_column("reason", pa.array([], pa.string()))
    return kept, excluded
