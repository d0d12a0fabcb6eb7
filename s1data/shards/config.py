"""ShardConfig: packing, mixture and file-size knobs of the token_shards stage (doubles as the Prefect UI form)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

# Bump when the bytes written for given inputs and parameters change: it invalidates cached shard partitions.
SHARDS_CODE_VERSION = "shards-3"  # shards-2: partitioned (part-<index>-<shard>.parquet, mixture per partition); shards-3: partitions of equal size
SHARD_FORMAT = "s1-token-shard-1"


class ShardConfig(BaseModel):
    seq_len: int = Field(2048, ge=8, description="Tokens per packed row (every row is exactly this long).")
    mixture: dict[str, float] = Field(
        default_factory=dict,
        description="Target share of tokens per domain, e.g. {'science': 0.5, 'general': 0.5}; weights are "
                    "normalised. Empty = natural mixture (every document once, shuffled). Domains not listed are "
                    "excluded (shards_domain_not_in_mixture). A null domain counts as 'general'.")
    source_mixture: dict[str, float] = Field(
        default_factory=dict,
        description="Target share of tokens per source_kind inside each domain, e.g. {'pdf': 0.7, 'web': 0.3}. "
                    "Empty = natural. Sources not listed are excluded (shards_source_not_in_mixture).")
    on_exhausted: Literal["stop", "renormalize", "repeat"] = Field(
        "stop", description="When a weighted domain runs out of documents: stop = end the mixture there (keeps the "
                            "proportions; the rest is excluded as shards_mixture_budget_reached); renormalize = go "
                            "on with the remaining domains; repeat = reshuffle it and reuse it (needs max_tokens).")
    max_tokens: int | None = Field(
        None, ge=1, description="Stop after this many document tokens (EOS included); None = until the mixture ends.")
    remainder: Literal["pad", "drop"] = Field(
        "pad", description="The last partial row: pad = fill with pad tokens as a segment with doc_id '' and domain "
                           "''; drop = leave those tokens out (excluded as shards_remainder_dropped).")
    max_shard_tokens: int = Field(
        1 << 27, ge=8, description="Upper bound of tokens per shard file (rows = max_shard_tokens // seq_len, at "
                                   "least 1); 2**27 int32 tokens is 512 MiB before compression.")
    row_group_rows: int = Field(1024, ge=1, description="Parquet row-group size (rows) inside a shard.")
    compression: Literal["zstd", "snappy", "none"] = Field("zstd", description="Parquet compression codec.")
    partition_docs: int = Field(
        10_000, ge=1, description="At most this many documents per partition of the token_shards stage (partitions "
                                  "are cut to equal sizes): each is read, tokenized, mixed and packed by one Dask "
                                  "task and ends in its own padded row. Bounds a task's memory (plus the input row "
                                  "groups it overlaps); smaller partitions spread a small corpus over more workers.")
    encode_batch_size: int = Field(1024, ge=1, description="Documents per tokenizer batch call.")

    @model_validator(mode="after")
    def _check(self) -> "ShardConfig":
        if self.on_exhausted == "repeat" and self.max_tokens is None:
            raise ValueError("on_exhausted='repeat' never ends without a budget: set max_tokens (e.g. 10_000_000).")
        if any(w < 0 for w in [*self.mixture.values(), *self.source_mixture.values()]):
            raise ValueError("mixture weights must be >= 0; drop a domain by leaving it out.")
        if self.mixture and sum(self.mixture.values()) <= 0:
            raise ValueError("mixture weights sum to 0: give at least one domain a positive weight.")
        return self

    def cache_params(self) -> dict:
        """The parameters that change the shards (batching does not)."""
        return self.model_dump(exclude={"encode_batch_size"})
