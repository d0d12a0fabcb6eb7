"""The token_shards stage for real: partitions written by Dask tasks on a LocalCluster, committed one by one, cached."""

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from flows.context import open_run
from flows.tokens import TokenizeFlowParams, shard_partition_fingerprint, shard_paths, tokenize_flow, \
    write_shard_partitions
from s1data.shards import ShardConfig, plan_partitions, read_shard, shard_metadata
from s1data.tokenizer import TokenizerConfig, tokenizer_fingerprint
from storage import open_storage, tree_sha256
from tests.s1data.shards.conftest import make_docs

TINY = TokenizerConfig(vocab_size=500, smiles_vocab_size=300, protein_vocab_size=280, dna_vocab_size=270)


def _curated(home: Path, n_docs: int) -> None:
    """A curated artifact as the curate stage leaves it (small row groups, so partitions read only their own)."""
    root, m = open_storage(str(home))
    staging = root.staging()
    pq.write_table(make_docs(n_docs), staging / "curated.parquet", row_group_size=100)
    final = root.commit(staging, "curated", "fp-test-curated")
    m.record_artifact(name="curated", stage="curate", fingerprint="fp-test-curated", kind="parquet", uri=str(final),
                      stage_run_id=None, rows=n_docs, content_sha256=tree_sha256(final))


def _params(home: Path, partition_docs: int) -> TokenizeFlowParams:
    return TokenizeFlowParams(home=str(home), tokenizer=TINY, n_workers=2, seed=5,
                              shards=ShardConfig(seq_len=64, max_shard_tokens=64 * 40, partition_docs=partition_docs))


def _doc_counts(paths: list[str]) -> Counter:
    """How many times each document ends (its EOS) in the shards."""
    ends = Counter()
    for path in paths:
        eos = shard_metadata(path)["s1.eos_id"]
        for row in read_shard(path).to_pylist():
            pos = 0
            for n, doc in zip(row["doc_lens"], row["doc_ids"]):
                pos += n
                if doc and row["input_ids"][pos - 1] == eos:
                    ends[doc] += 1
    return ends


def test_partitions_on_dask_give_every_document_once_and_the_single_partition_total(home):
    _curated(home, 600)
    single = tokenize_flow(_params(home, 10_000))["token_shards"]
    assert single["partitions"] == 1

    # a run killed after its first partition: that partition is committed, the stage is not
    params = _params(home, 250)
    with open_run("tokenize", params) as ctx:
        curated, tok = ctx.manifest.resolve_artifact("curated"), ctx.manifest.resolve_artifact("tokenizer")
        parts = plan_partitions(Path(curated["uri"]) / "curated.parquet", params.shards)
        pfps = {p["key"]: shard_partition_fingerprint(curated, tok, params.shards, params.seed, p) for p in parts}
        sr = ctx.manifest.start_stage(ctx.run_id, "token_shards", "killed-run")
        write_shard_partitions.fn(ctx, sr, curated, tok, parts[:1], pfps, params.shards, params.seed, None, None)
        ctx.manifest.finish_stage(sr, "failed", "killed")

    out = tokenize_flow(params)["token_shards"]
    assert (out["partitions"], out["cached_partitions"], out["cached"]) == (3, 1, False)
    assert out["tokens"] == single["tokens"]  # natural mixture: every document once, only padding differs

    _, m = open_storage(str(home))
    art = m.resolve_artifact(out["artifact"])
    paths = shard_paths(art)
    assert len({Path(p).name.split("-")[1] for p in paths}) == 3  # part-<index>-<shard>.parquet
    counts = _doc_counts(paths)
    assert set(counts.values()) == {1} and len(counts) == 600
    assert counts == _doc_counts(shard_paths(m.resolve_artifact(single["artifact"])))
    fp = tokenizer_fingerprint(tok["uri"])
    assert {shard_metadata(p)["s1.tokenizer_fingerprint"] for p in paths} == {fp}
    assert sum(shard_metadata(p)["s1.tokens"] for p in paths) == art["tokens"] == out["tokens"]

    # partitions are manifest rows with tokens and lineage to what went in
    rows = m.query("SELECT artifact_id, tokens, fingerprint FROM artifacts WHERE name = 'token_shards_partition' "
                   "AND fingerprint IN (SELECT UNNEST(?))", [list(pfps.values())])
    assert len(rows) == 3 and sum(r["tokens"] for r in rows) == out["tokens"]
    ancestors = {a["name"] for a in m.ancestors(art["artifact_id"])}
    assert {"token_shards_partition", "curated", "tokenizer"} <= ancestors

    again = tokenize_flow(params)
    assert again["token_shards"]["cached"] is True and again["token_shards"]["artifact"] == out["artifact"]
    cached = m.query("SELECT status, count(*) AS n FROM stage_runs WHERE run_id = ? "
                     "AND stage = 'token_shards.partition' GROUP BY ALL", [again["run_id"]])
    assert cached == [{"status": "cached", "n": 3}]
