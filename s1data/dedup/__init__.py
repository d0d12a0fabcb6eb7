"""Exact (normalised hash) and MinHash-LSH near-duplicate removal: one table in memory, or parquet partitions."""

from s1data.dedup.minhash import (DedupConfig, band_keys, deduplicate, exact_key, minhash_signatures,
                                  near_duplicate_clusters, normalise_text, optimal_bands_rows)
from s1data.dedup.parallel import dedup_partitions

__all__ = ["DedupConfig", "band_keys", "dedup_partitions", "deduplicate", "exact_key", "minhash_signatures",
           "near_duplicate_clusters", "normalise_text", "optimal_bands_rows"]
