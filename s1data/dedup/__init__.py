"""Exact (normalised hash) and MinHash-LSH near-duplicate removal."""

from s1data.dedup.minhash import (DedupConfig, band_keys, deduplicate, exact_key, minhash_signatures,
                                  near_duplicate_clusters, normalise_text)

__all__ = ["DedupConfig", "band_keys", "deduplicate", "exact_key", "minhash_signatures", "near_duplicate_clusters",
           "normalise_text"]
