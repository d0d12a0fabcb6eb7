"""The curation settings: one pydantic model that is also the Prefect UI form (`s1 run curate --describe`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from s1data.filters.curate import C4Config, FineWebConfig, GopherConfig

from s1data.dedup import DedupConfig
from s1data.filters import CurationConfig
from s1data.science import ScienceConfig
from s1data.web.domains import DomainDecisionConfig
from s1data.web.rewrite import RewriteConfig


class CurateConfig(BaseModel):
    quality: CurationConfig = Field(default_factory=CurationConfig, description="Language id, quality rules, PII.")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Exact and near-duplicate removal.")
    science: ScienceConfig = Field(default_factory=ScienceConfig, description="Silver labels and classifier.")
    domains: DomainDecisionConfig = Field(default_factory=DomainDecisionConfig,
                                          description="Per-URL-domain keep/drop/rewrite decisions for web pages.")
    rewrite: RewriteConfig = Field(default_factory=RewriteConfig,
                                   description="LLM rewriting of the pages of domains decided rewrite_candidate "
                                               "(Intern-S1's domain-centric rewriting); without an endpoint the "
                                               "pages are kept unchanged and the run summary says so.")
    web_rules_on_pdf: bool = Field(
        False, description="Apply the web-text quality rules (Gopher, C4, FineWeb) to PDF documents too. Off: PDF "
                           "papers get language id, PII and dedup only. The rules were made for web pages: with "
                           "datatrove's tokenisation numbers and punctuation are words without a letter, and the "
                           "Gopher 80%-alphabetic-words rule drops all 4 real papers of ../shared/data/pdf.")
    partition_docs: int = Field(
        20_000, ge=1, description="Documents per curation partition (a row range of one input parquet file): "
                                    "the unit of memory, of a Dask task and of caching.")
    science_sample_docs: int = Field(
        20_000, ge=100, description="The science classifier is trained on at most this many documents: a "
                                    "deterministic sample (smallest sha256 of doc_id) over every partition.")
    min_classifier_docs: int = Field(
        200, ge=10, description="Train the science classifier only when at least this many sampled documents get "
                                "a confident silver label; below it the silver rules label every document.")
    dedup_buckets: int = Field(32, ge=1, description="Shuffle buckets of the partitioned dedup (tasks of its "
                                                     "band step).")

    def quality_for(self, source: str) -> CurationConfig:
        """The quality blocks for documents of `source` (`documents` = PDF, `web_pages`)."""
        if source == "web_pages" or self.web_rules_on_pdf:
            return self.quality
        return self.quality.model_copy(update={"gopher": GopherConfig(enabled=False), "c4": C4Config(enabled=False),
                                               "fineweb": FineWebConfig(enabled=False)})
