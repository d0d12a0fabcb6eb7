import numpy as np
import pytest

from s1model.config import tiny
from s1model.data import StepBatches, attention_cost, deal_rows, read_shards, rows_per_rank
from s1model.schedule import wsd_multiplier
from tests.s1model.conftest import write_shard


def test_shards_with_another_seq_len_are_refused_with_the_fix(tmp_path):
    path = write_shard(str(tmp_path / "s.parquet"), 4, 64, 256)
    with pytest.raises(ValueError, match="set PretrainConfig.seq_len"):
        read_shards([path], 128, 256)


def test_token_ids_beyond_the_vocab_are_refused(tmp_path):
    path = write_shard(str(tmp_path / "s.parquet"), 4, 64, 256)
    with pytest.raises(ValueError, match="vocab_size"):
        read_shards([path], 64, 16)


def test_a_step_batch_depends_only_on_seed_and_step(tiny_shards):
    rows = read_shards(tiny_shards, 64, 256)
    cfg = tiny()
    a = StepBatches(rows, cfg, 0, 1).micro_batches(5)[0][0]
    b = StepBatches(rows, cfg, 0, 1).micro_batches(5)[0][0]
    c = StepBatches(rows, cfg.model_copy(update={"seed": 1}), 0, 1).micro_batches(5)[0][0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_data_parallel_ranks_read_disjoint_rows_that_cover_the_global_batch(tiny_shards):
    rows = read_shards(tiny_shards, 64, 256)
    cfg = tiny().model_copy(update={"micro_batch_size": 4})
    per_rank = [StepBatches(rows, cfg, r, 2).micro_batches(3)[0][0] for r in range(2)]
    seen = {tuple(x) for part in per_rank for x in part}
    assert all(len(part) == 4 for part in per_rank) and len(seen) == 8


def test_length_balanced_deal_evens_attention_work():
    costs = [attention_cost(x) for x in ([64], [64], [32, 32], [16] * 4, [8] * 8, [60, 4], [64], [2] * 32)]
    groups = deal_rows(costs, 2)
    loads = [sum(costs[i] for i in g) for g in groups]
    naive = [sum(costs[0::2]), sum(costs[1::2])]
    assert sorted(len(g) for g in groups) == [4, 4]
    assert max(loads) - min(loads) < max(naive) - min(naive)


def test_batch_size_warmup_ramps_then_holds():
    assert [rows_per_rank(s, 8, 2, 4) for s in range(6)] == [2, 4, 5, 6, 8, 8]
    assert rows_per_rank(0, 8, None, 4) == 8


def test_warmup_stable_decay_schedule_shape():
    lrs = [wsd_multiplier(s, 100, 10, 0.2, 0.1, "linear") for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == 1.0
    assert all(x == 1.0 for x in lrs[10:80])
    assert lrs[99] == pytest.approx(0.1) and all(a >= b for a, b in zip(lrs[80:], lrs[81:]))
