from collections import defaultdict

import pyarrow as pa
import pytest

from s1data.shards import ShardConfig, TokenShardWriter, read_shard, shard_metadata, tokenizer_fingerprint, write_shards
from tests.s1data.shards.conftest import make_docs


def unpack(paths):
    """doc_id -> concatenated tokens of its segments, in order; plus the per-row checks every shard must pass."""
    tokens = defaultdict(list)
    for path in paths:
        meta = shard_metadata(path)
        for row in read_shard(path).to_pylist():
            assert len(row["input_ids"]) == meta["s1.seq_len"]
            assert sum(row["doc_lens"]) == meta["s1.seq_len"]
            assert len(row["doc_lens"]) == len(row["domains"]) == len(row["doc_ids"])
            pos = 0
            for n, doc_id in zip(row["doc_lens"], row["doc_ids"]):
                assert n > 0
                tokens[doc_id] += row["input_ids"][pos:pos + n]
                pos += n
    return tokens


def test_rows_are_seq_len_long_and_every_document_comes_back_whole_with_one_eos(tmp_path, tok, tokenizer_dir, docs):
    shards = write_shards(docs, tokenizer_dir, tmp_path, ShardConfig(seq_len=128, max_shard_tokens=128 * 20), seed=3)
    tokens = unpack([s["path"] for s in shards])
    pad = tokens.pop("")
    assert set(pad) == {tok.pad_id} and len(pad) < 128
    assert len(tokens) == docs.num_rows  # natural mixture: every document exactly once
    for doc_id, text in zip(docs.column("doc_id").to_pylist(), docs.column("text").to_pylist()):
        assert tokens[doc_id] == tok.encode(text) + [tok.eos_id]
    assert sum(s["tokens"] for s in shards) == sum(len(t) for t in tokens.values())
    assert sum(s["padding_tokens"] for s in shards) == len(pad)


def test_shards_are_bounded_and_metadata_carries_the_contract(tmp_path, tokenizer_dir, docs):
    shards = write_shards(docs, tokenizer_dir, tmp_path, ShardConfig(seq_len=64, max_shard_tokens=64 * 50), seed=0)
    assert len(shards) > 3 and all(s["rows"] <= 50 for s in shards)
    assert all(s["rows"] == 50 for s in shards[:-1])
    for s in shards:
        meta = shard_metadata(s["path"])
        assert meta["s1.tokenizer_fingerprint"] == tokenizer_fingerprint(tokenizer_dir) == s["tokenizer_fingerprint"]
        assert (meta["s1.seq_len"], meta["s1.rows"], meta["s1.tokens"]) == (64, s["rows"], s["tokens"])
        assert meta["s1.domains"] == s["domains"] and sum(s["domains"].values()) == s["tokens"]
        table = read_shard(s["path"])
        assert table.schema.field("input_ids").type == pa.list_(pa.int32())
        assert table.schema.field("doc_lens").type == pa.list_(pa.int32())
        assert table.schema.field("domains").type == pa.list_(pa.string())
        assert s["bytes"] > 0 and s["doc_ids_count"] == len({d for r in table.column("doc_ids").to_pylist()
                                                            for d in r if d})


def test_a_null_domain_counts_as_general(tmp_path, tokenizer_dir, docs):
    shards = write_shards(docs, tokenizer_dir, tmp_path, ShardConfig(seq_len=256), seed=0)
    assert set(shards[0]["domains"]) == {"science", "general", "code"}


def test_same_seed_gives_identical_shards_and_another_seed_another_order(tmp_path, tokenizer_dir, docs):
    cfg = ShardConfig(seq_len=128, mixture={"science": 0.5, "general": 0.5})
    a = write_shards(docs, tokenizer_dir, tmp_path / "a", cfg, seed=7)
    b = write_shards(docs, tokenizer_dir, tmp_path / "b", cfg, seed=7)
    c = write_shards(docs, tokenizer_dir, tmp_path / "c", cfg, seed=8)
    assert [read_shard(s["path"]) for s in a] == [read_shard(s["path"]) for s in b]
    assert [{k: v for k, v in s.items() if k != "path"} for s in a] == \
           [{k: v for k, v in s.items() if k != "path"} for s in b]
    assert read_shard(a[0]["path"]).column("doc_ids") != read_shard(c[0]["path"]).column("doc_ids")


def test_domain_mixture_is_met_within_two_percent_and_unlisted_domains_are_excluded(tmp_path, tokenizer_dir):
    docs = make_docs(1200, seed=1)
    mixture = {"science": 0.6, "code": 0.4}
    writer = TokenShardWriter(tokenizer_dir, tmp_path, ShardConfig(seq_len=256, mixture=mixture), seed=0)
    shards = writer.write(docs)
    counts = defaultdict(int)
    for s in shards:
        for d, n in s["domains"].items():
            counts[d] += n
    total = sum(counts.values())
    for d, w in mixture.items():
        assert abs(counts[d] / total - w) < 0.02, (d, counts[d] / total)
    reasons = defaultdict(int)
    for e in writer.exclusions:
        reasons[e["reason"]] += 1
    assert reasons["shards_domain_not_in_mixture"] == 600  # 'general' and null (= 'general') documents
    assert reasons["shards_mixture_budget_reached"] > 0


def test_source_mixture_is_met_inside_a_domain(tmp_path, tokenizer_dir):
    docs = make_docs(1200, seed=2)
    cfg = ShardConfig(seq_len=256, mixture={"general": 1.0}, source_mixture={"pdf": 0.25, "web": 0.75})
    shards = write_shards(docs, tokenizer_dir, tmp_path, cfg, seed=0)
    pdf = sum(s["sources"].get("pdf", 0) for s in shards)
    web = sum(s["sources"].get("web", 0) for s in shards)
    assert abs(pdf / (pdf + web) - 0.25) < 0.02


def test_repeat_reuses_documents_until_the_token_budget(tmp_path, tokenizer_dir, docs):
    with pytest.raises(ValueError, match="set max_tokens"):
        ShardConfig(on_exhausted="repeat")
    cfg = ShardConfig(seq_len=128, mixture={"science": 0.9, "code": 0.1}, on_exhausted="repeat", max_tokens=100_000)
    shards = write_shards(docs, tokenizer_dir, tmp_path, cfg, seed=0)
    tokens = sum(s["tokens"] for s in shards)
    science = sum(s["domains"]["science"] for s in shards)
    assert 100_000 <= tokens < 101_000 and abs(science / tokens - 0.9) < 0.02


def test_drop_remainder_leaves_out_the_partial_row_with_a_reason(tmp_path, tok, tokenizer_dir, docs):
    writer = TokenShardWriter(tokenizer_dir, tmp_path, ShardConfig(seq_len=1000, remainder="drop"), seed=0)
    shards = writer.write(docs)
    total = sum(len(ids) + 1 for ids in tok.encode_batch(docs.column("text").to_pylist()))
    assert sum(s["tokens"] for s in shards) == total - total % 1000
    assert all(s["padding_tokens"] == 0 for s in shards)
    dropped = [e for e in writer.exclusions if e["reason"] == "shards_remainder_dropped"]
    assert dropped and sum(int(e["detail"].split()[0]) for e in dropped) == total % 1000


def test_empty_documents_are_excluded_with_a_reason(tmp_path, tokenizer_dir):
    docs = pa.table({"doc_id": ["a", "b", "c"], "text": ["hello world", "   ", None],
                     "domain": ["general"] * 3, "source_kind": ["web"] * 3})
    writer = TokenShardWriter(tokenizer_dir, tmp_path, ShardConfig(seq_len=8), seed=0)
    shards = writer.write(docs)
    assert [(e["doc_id"], e["reason"]) for e in writer.exclusions] == [("b", "shards_empty_text"),
                                                                        ("c", "shards_empty_text")]
    assert shards[0]["doc_ids_count"] == 1


def test_shards_are_readable_by_polars(tmp_path, tokenizer_dir, docs):
    import polars as pl

    shards = write_shards(docs, tokenizer_dir, tmp_path, ShardConfig(seq_len=128), seed=0)
    frame = pl.read_parquet(shards[0]["path"])
    assert frame.height == shards[0]["rows"]
    assert frame.select(pl.col("input_ids").list.len().unique()).to_series().to_list() == [128]
    assert frame.select(pl.col("doc_lens").list.sum().unique()).to_series().to_list() == [128]
