"""Curation blocks: language id, Gopher / C4 / FineWeb quality rules, PII scrub; `curate` chains them."""

from s1data.filters.base import BaseFilter
from s1data.filters.curate import (C4Config, CurationConfig, FineWebConfig, GopherConfig, LanguageConfig, PiiConfig,
                                   build_filters, curate)
from s1data.filters.language import LanguageFilter, detect_language
from s1data.filters.pii import scrub_pii
from s1data.filters.quality import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

__all__ = ["BaseFilter", "C4Config", "C4QualityFilter", "CurationConfig", "FineWebConfig", "FineWebQualityFilter",
           "GopherConfig", "GopherQualityFilter", "GopherRepetitionFilter", "LanguageConfig", "LanguageFilter",
           "PiiConfig", "build_filters", "curate", "detect_language", "scrub_pii"]
