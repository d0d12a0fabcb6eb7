"""Web mining: WARC/ARC records → main-content page rows; per-domain keep/drop decisions."""

from s1data.web.domains import DomainDecisionConfig, domain_decisions  # noqa: F401  (per-domain decisions)
from s1data.web.extractor import ExtractionRefused, extract_main_text, extract_main_text_and_title
from s1data.web.warc_reader import PAGE_SCHEMA, WarcReader, WebConfig, read_warc, read_warc_partition

__all__ = ["PAGE_SCHEMA", "ExtractionRefused", "WarcReader", "WebConfig", "extract_main_text",
           "extract_main_text_and_title", "read_warc", "read_warc_partition"]
