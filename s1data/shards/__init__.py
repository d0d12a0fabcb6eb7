"""Token shards: mixture sampling, fixed-length packing with document boundaries, parquet shards."""

from s1data.shards.config import SHARD_FORMAT, SHARDS_CODE_VERSION, ShardConfig
from s1data.shards.mixture import plan_mixture
from s1data.shards.partition import partition_seed, plan_partitions, read_partition, write_partition
from s1data.shards.writer import TokenShardWriter, read_shard, shard_metadata, write_shards
from s1data.tokenizer.dynamic import tokenizer_fingerprint

__all__ = ["SHARD_FORMAT", "SHARDS_CODE_VERSION", "ShardConfig", "plan_mixture", "TokenShardWriter", "read_shard",
           "shard_metadata", "write_shards", "tokenizer_fingerprint", "plan_partitions", "partition_seed",
           "read_partition", "write_partition"]
