from collections import Counter, defaultdict

import pyarrow.parquet as pq

from s1data.shards import ShardConfig, partition_seed, plan_partitions, read_partition, read_shard, write_partition
from tests.s1data.shards.conftest import make_docs


def _parquet(tmp_path, docs, row_group_size=64):
    path = tmp_path / "docs.parquet"
    pq.write_table(docs, path, row_group_size=row_group_size)
    return path


def test_partitions_cover_the_rows_once_in_equal_sizes_and_split_the_token_budget_by_documents(tmp_path):
    path = _parquet(tmp_path, make_docs(250))
    parts = plan_partitions(path, ShardConfig(partition_docs=100, max_tokens=1001))
    # as few partitions as `partition_docs` allows (3), of equal size within one row: equal work per Dask task
    assert [(p["start"], p["stop"]) for p in parts] == [(0, 83), (83, 166), (166, 250)]
    assert [p["max_tokens"] for p in parts] == [332, 332, 337]  # 332.3 + 332.3 + 336.3, largest remainder first
    assert [p["max_tokens"] for p in plan_partitions(path, ShardConfig(partition_docs=100))] == [None] * 3
    assert [(p["start"], p["stop"]) for p in plan_partitions(path, ShardConfig(partition_docs=249))] == \
        [(0, 125), (125, 250)]
    assert len(plan_partitions(path, ShardConfig(partition_docs=250))) == 1
    assert partition_seed(0, 1) == partition_seed(0, 1) != partition_seed(0, 2) != partition_seed(1, 2)


def test_a_partition_reads_its_rows_and_fills_missing_columns_with_nulls(tmp_path):
    docs = make_docs(200).drop_columns(["domain", "source_kind"])
    path = _parquet(tmp_path, docs)
    part = read_partition(path, 70, 150)
    assert part.column_names == ["doc_id", "text", "domain", "source_kind"]
    assert part.column("doc_id").to_pylist() == docs.column("doc_id").to_pylist()[70:150]
    assert part.column("domain").null_count == 80
    assert read_partition(path, 200, 200).num_rows == 0


def test_partitions_meet_the_mixture_together_and_are_deterministic(tmp_path, tokenizer_dir):
    path = _parquet(tmp_path, make_docs(1200, seed=1))
    cfg = ShardConfig(seq_len=256, mixture={"science": 0.6, "code": 0.4}, partition_docs=400)
    runs = []
    for run in ("a", "b"):
        runs.append([write_partition(path, p, tokenizer_dir, tmp_path / run / p["key"], cfg, seed=3)
                     for p in plan_partitions(path, cfg)])
    a, b = runs
    assert [r["shards"] for r in a] == [r["shards"] for r in b] and len(a) == 3
    for ra, rb in zip(a, b):
        for s in ra["shards"]:
            assert read_shard(f"{ra['out_dir']}/{s['path']}") == read_shard(f"{rb['out_dir']}/{s['path']}")
    assert {s["path"].rsplit("-", 1)[0] for r in a for s in r["shards"]} == {"part-00000", "part-00001", "part-00002"}
    counts = defaultdict(int)
    for r in a:
        for s in r["shards"]:
            for d, n in s["domains"].items():
                counts[d] += n
    total = sum(counts.values())
    assert set(counts) == {"science", "code"} and abs(counts["science"] / total - 0.6) < 0.02
    reasons = Counter()
    for r in a:
        reasons.update(r["exclusion_reasons"])
    assert reasons["shards_domain_not_in_mixture"] == 600 and sum(r["docs"] for r in a) == 1200
    assert len({r["seed"] for r in a}) == 3  # one mixture stream per partition


def test_the_token_budget_holds_over_all_partitions(tmp_path, tokenizer_dir):
    path = _parquet(tmp_path, make_docs(600))
    cfg = ShardConfig(seq_len=128, mixture={"science": 0.9, "code": 0.1}, on_exhausted="repeat", max_tokens=30_000,
                      partition_docs=200)
    out = [write_partition(path, p, tokenizer_dir, tmp_path / p["key"], cfg, seed=0)
           for p in plan_partitions(path, cfg)]
    tokens = sum(r["tokens"] for r in out)
    assert 30_000 <= tokens < 30_000 + 3 * 1000  # each partition overshoots its share by under one document
