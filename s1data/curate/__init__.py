"""Curation as partition blocks: domain decisions, quality filters, rewriting, dedup and science labels over a
partitioned corpus (see `s1data.curate.run.curate_corpus`)."""

from s1data.curate.config import CurateConfig
from s1data.curate.run import curate_corpus, input_files

__all__ = ["CurateConfig", "curate_corpus", "input_files"]
