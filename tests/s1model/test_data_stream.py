"""The streaming shard reader (`ShardStream`): exact resume per data-parallel rank, no row twice within an epoch,
bounded memory (one block of row groups decoded at a time), the same checks as the in-memory reader."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from s1model.config import tiny
from s1model.data import ShardStream, StepBatches, read_shards
from tests.s1model.conftest import write_shard

ROW_GROUP = 8


@pytest.fixture
def grouped_shards(tmp_path) -> list[str]:
    """Three shards of 40 + 48 + 20 rows (seq 64) in row groups of 8 rows (the last one of a shard shorter)."""
    paths = []
    for i, n in enumerate((40, 48, 20)):
        path = write_shard(str(tmp_path / f"shard-{i}.parquet"), n, 64, 256, seed=i)
        pq.write_table(pq.read_table(path), path, row_group_size=ROW_GROUP)
        paths.append(path)
    return paths


def _cfg(**kw):
    return tiny().model_copy(update={"micro_batch_size": 3, "gradient_accumulation_steps": 2, "seed": 7, **kw})


def _run(paths, cfg, dp_rank, dp_size, steps, window=2):
    """{step: [(input_ids_BS, doc_lens, row_ids) per micro-batch]} of one rank, with a fresh stream."""
    sb = StepBatches(ShardStream(paths, 64, 256, seed=cfg.seed, window=window), cfg, dp_rank, dp_size)
    return {s: sb.micro_batches(s, with_row_ids=True) for s in steps}, sb.rows


def _same(a, b):
    return all(np.array_equal(x[0], y[0]) and x[1] == y[1] and np.array_equal(x[2], y[2]) for x, y in zip(a, b))


@pytest.mark.parametrize("length_balanced,warmup", [(False, None), (True, 1)])
def test_a_run_resumed_at_step_k_sees_the_same_rows_in_the_same_order_on_every_rank(grouped_shards, length_balanced,
                                                                                     warmup):
    cfg = _cfg(length_balanced=length_balanced, batch_warmup_start=warmup, batch_warmup_steps=3 if warmup else 0)
    for rank in range(2):
        full, _ = _run(grouped_shards, cfg, rank, 2, range(20))  # 20 steps: crosses two epoch boundaries
        for k in (1, 5, 9, 17):
            resumed, stream = _run(grouped_shards, cfg, rank, 2, range(k, 20))
            assert all(_same(full[s], resumed[s]) for s in range(k, 20)), (rank, k)
        # a different seed is a different order
        other, _ = _run(grouped_shards, cfg.model_copy(update={"seed": 8}), rank, 2, range(3))
        assert not all(_same(full[s], other[s]) for s in range(3))


def test_within_an_epoch_no_row_is_handed_out_twice_across_ranks_and_every_row_is_the_shards_row(grouped_shards):
    cfg = _cfg(micro_batch_size=3, gradient_accumulation_steps=2)  # 12 rows per step on 2 ranks; 108 rows: 9 steps
    n_rows = 40 + 48 + 20
    truth = read_shards(grouped_shards, 64, 256)  # global row id = position in the sorted shards
    seen = []
    for rank in range(2):
        per_step, _ = _run(grouped_shards, cfg, rank, 2, range(n_rows // 12))
        for micro in per_step.values():
            for ids_BS, lens, row_ids in micro:
                assert len(row_ids) == 3
                assert np.array_equal(ids_BS, truth.input_ids_NS[row_ids])
                assert lens == [truth.doc_lens[i] for i in row_ids]
                seen.extend(row_ids.tolist())
    assert len(seen) == len(set(seen)) == n_rows  # one epoch: each row exactly once over both ranks
    # ranks are disjoint within each step, and the epoch is a real shuffle, not file order
    r0, _ = _run(grouped_shards, cfg, 0, 2, [0])
    r1, _ = _run(grouped_shards, cfg, 1, 2, [0])
    ids0 = {int(i) for m in r0[0] for i in m[2]}
    ids1 = {int(i) for m in r1[0] for i in m[2]}
    assert not ids0 & ids1 and seen != sorted(seen)


def test_memory_is_bounded_by_one_block_of_row_groups_and_resume_reads_no_earlier_block(grouped_shards):
    cfg = _cfg(micro_batch_size=2, gradient_accumulation_steps=1)  # 4 rows per step on 2 ranks
    _, stream = _run(grouped_shards, cfg, 0, 2, range(27))  # one epoch: 108 rows
    n_groups = len(stream.row_groups)
    assert n_groups == 5 + 6 + 3 and stream.n_rows == 108
    assert stream.max_resident_rows <= 2 * ROW_GROUP  # window = 2 row groups, never the whole 108 rows
    assert stream.blocks_read == -(-n_groups // 2)  # a sequential pass decodes each block once
    _, resumed = _run(grouped_shards, cfg, 0, 2, [26])  # resume at the epoch's last step: its block only
    assert resumed.blocks_read == 1


def test_stream_checks_seq_len_fingerprint_and_vocab(grouped_shards, tmp_path):
    with pytest.raises(ValueError, match="set PretrainConfig.seq_len"):
        ShardStream(grouped_shards, 128, 256)
    other = write_shard(str(tmp_path / "other.parquet"), 4, 64, 256)
    t = pq.read_table(other)
    pq.write_table(t.replace_schema_metadata({**t.schema.metadata, b"s1.tokenizer_fingerprint": b"another"}), other)
    with pytest.raises(ValueError, match="tokenizer fingerprint"):
        ShardStream(grouped_shards + [other], 64, 256)
    with pytest.raises(ValueError, match="vocab_size"):  # checked when a row group is decoded
        ShardStream(grouped_shards, 64, 16).read(0, 1)
    with pytest.raises(ValueError, match="no token shards"):
        ShardStream([], 64, 256)


def test_in_memory_step_batches_are_unchanged_by_the_shared_dealing(tiny_shards):
    rows = read_shards(tiny_shards, 64, 256)
    cfg = tiny().model_copy(update={"micro_batch_size": 4, "length_balanced": False})
    ids, _, row_ids = StepBatches(rows, cfg, 1, 2).micro_batches(3, with_row_ids=True)[0]
    assert np.array_equal(ids, rows.input_ids_NS[row_ids]) and len(row_ids) == 4


def test_pretrain_trains_from_streamed_shards(grouped_shards, tmp_path):
    from s1model.train import pretrain

    cfg = tiny().model_copy(update={"max_steps": 8, "micro_batch_size": 4, "checkpoint_every": 0, "export_hf": False,
                                    "stream_window_row_groups": 2})
    result = pretrain(cfg, grouped_shards, str(tmp_path / "run"))
    losses = [m["loss"] for m in result["metrics"]]
    assert len(losses) == 8 and all(np.isfinite(losses)) and losses[-1] < losses[0]
