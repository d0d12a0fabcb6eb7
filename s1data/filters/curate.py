"""`curate(docs, config)`: language id → Gopher quality → Gopher repetition → C4 → FineWeb → PII scrub.

Every dropped document is an exclusion row with `filter` and `reason`; kept rows gain `lang`, `lang_score` and
`pii_count` and have their PII replaced by placeholder tokens.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from pydantic import BaseModel, Field

from s1data.filters.language import LanguageFilter
from s1data.filters.pii import scrub_pii
from s1data.filters.quality import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter


class LanguageConfig(BaseModel):
    languages: list[str] | None = Field(["en"], description="ISO 639-1 codes to keep; null keeps every language.")
    min_confidence: float | None = Field(0.0, description="Minimum detector confidence in [0,1]; null disables.")


class GopherConfig(BaseModel):
    enabled: bool = Field(True, description="Run the Gopher quality and repetition rules.")
    min_words: int | None = Field(50, description="Fewer words → gopher_short_doc.")
    max_words: int | None = Field(100_000, description="More words → gopher_long_doc.")
    min_avg_word_length: float | None = Field(3, description="English only: mean word length below → drop.")
    max_avg_word_length: float | None = Field(10, description="English only: mean word length above → drop.")
    max_symbol_word_ratio: float | None = Field(0.1, description="(# + ellipses) per word above → drop.")
    max_bullet_lines_ratio: float | None = Field(0.9, description="Share of lines starting with a bullet above.")
    max_ellipsis_lines_ratio: float | None = Field(0.3, description="Share of lines ending with an ellipsis above.")
    max_non_alpha_words_ratio: float | None = Field(0.8, description="Share of words without a letter above.")
    min_stop_words: int | None = Field(2, description="English only: fewer distinct stop words (the, be, to, of, "
                                       "and, that, have, with) → gopher_few_stop_words.")
    dup_line_frac: float | None = Field(0.3, description="Share of duplicated lines above → drop.")
    dup_para_frac: float | None = Field(0.3, description="Share of duplicated paragraphs above → drop.")
    dup_line_char_frac: float | None = Field(0.2, description="Share of characters in duplicated lines above.")
    dup_para_char_frac: float | None = Field(0.2, description="Share of characters in duplicated paragraphs above.")
    top_2gram_frac: float | None = Field(0.2, description="Characters in the most frequent 2-gram above.")
    top_3gram_frac: float | None = Field(0.18, description="Characters in the most frequent 3-gram above.")
    top_4gram_frac: float | None = Field(0.16, description="Characters in the most frequent 4-gram above.")


class C4Config(BaseModel):
    enabled: bool = Field(True, description="Run the C4 rules.")
    min_sentences: int | None = Field(3, description="Fewer sentences in good lines → c4_too_few_sentences.")
    min_words_per_line: int | None = Field(3, description="Shorter lines are removed (when remove_lines).")
    filter_lorem_ipsum: bool = Field(True, description="'lorem ipsum' → c4_lorem_ipsum.")
    filter_curly_bracket: bool = Field(False, description="'{' → c4_curly_bracket (off by default: science text "
                                       "has LaTeX and code).")
    filter_javascript: bool = Field(True, description="Remove lines mentioning javascript.")
    filter_policy: bool = Field(True, description="Remove cookie / privacy-policy / terms-of-use lines.")
    remove_lines: bool = Field(False, description="Rewrite the kept text to its C4-good lines (drops headings, "
                               "formulas and list items without end punctuation, hence off by default).")


class FineWebConfig(BaseModel):
    enabled: bool = Field(True, description="Run the FineWeb rules.")
    min_line_punct_ratio: float | None = Field(0.12, description="Share of lines ending in punctuation below.")
    max_dup_line_char_ratio: float | None = Field(0.1, description="Share of characters in duplicated lines above.")
    max_short_line_ratio: float | None = Field(0.67, description="Share of lines <= 30 chars above.")
    max_newline_per_word: float | None = Field(0.3, description="Newlines per word above → fineweb_list_ratio.")


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
                    "top_3gram_frac", "top_4gram_frac")
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
