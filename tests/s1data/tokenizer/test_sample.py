"""The tokenizer's training sample: bounded, deterministic, independent of how the dataset is split into files."""

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from s1data.tokenizer.sample import sample_texts


def _table(n: int) -> pa.Table:
    return pa.table({"doc_id": [f"d{i}" for i in range(n)], "text": [f"text of document {i}" for i in range(n)]})


def test_the_sample_is_the_smallest_keys_whatever_the_files(tmp_path):
    t = _table(1000)
    pq.write_table(t, tmp_path / "one.parquet", row_group_size=64)
    (tmp_path / "many").mkdir()
    for i, start in enumerate(range(0, 1000, 130)):
        pq.write_table(t.slice(start, 130), tmp_path / "many" / f"part-{i:05d}.parquet", row_group_size=50)
    want_ids = sorted(range(1000), key=lambda i: hashlib.sha256(f"7:d{i}".encode()).digest())[:100]
    want = [f"text of document {i}" for i in want_ids]
    assert sample_texts(str(tmp_path / "one.parquet"), 100, seed=7) == want
    assert sample_texts(str(tmp_path / "many"), 100, seed=7, batch_rows=17) == want
    assert sample_texts(str(tmp_path / "many"), 100, seed=8) != want


def test_the_character_budget_cuts_the_sample(tmp_path):
    pq.write_table(_table(50), tmp_path / "d.parquet")
    texts = sample_texts(str(tmp_path / "d.parquet"), 50, max_chars=200)
    assert 0 < sum(map(len, texts)) <= 200 and len(texts) < 50
