"""dedup_partitions with every file on an fsspec store (no local paths, no memory maps): the in-memory result."""

import fsspec
import numpy as np
import pyarrow.parquet as pq

from s1data.dedup import DedupConfig, dedup_partitions, deduplicate
from s1data.dedup.parallel import _load_rows, _save


def planted_corpus(seed: int):
    """600 random-word documents, 40 exact (case changed) and 40 near copies (one word changed)."""
    import random

    import pyarrow as pa

    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(80, 200))) for _ in range(600)]
    for s in rng.sample(range(600), 80)[:40]:
        texts.append(texts[s].upper())
    for s in rng.sample(range(600), 40):
        w = texts[s].split()
        w[len(w) // 2] = "changed"
        texts.append(" ".join(w))
    rng.shuffle(texts)
    return pa.table({"doc_id": [f"d{i:05d}" for i in rng.sample(range(10**5), len(texts))], "text": texts})


def test_byte_range_reads_of_npy_rows_on_a_store():
    rows = np.arange(1000, dtype=np.int64) * 7
    _save("memory://s1-test/rows.npy", rows)
    assert _load_rows("memory://s1-test/rows.npy", 123, 456).tolist() == rows[123:456].tolist()


def test_dedup_on_a_store_equals_the_in_memory_result():
    table = planted_corpus(seed=5)
    fs = fsspec.filesystem("memory")
    paths = []
    for p, start in enumerate(range(0, table.num_rows, 150)):
        paths.append(f"memory://s1-dedup/in/part-{p}.parquet")
        with fs.open(paths[-1], "wb") as f:
            pq.write_table(table.slice(start, 150), f)
    cfg = DedupConfig()
    summary = dedup_partitions(paths, "memory://s1-dedup/out", cfg, num_buckets=4)
    assert all(k.startswith("memory://") for k in summary["kept_paths"])
    kept = [r for p in summary["kept_paths"] for r in pq.read_table(fs.open(p, "rb")).to_pylist()]
    excluded = [r for p in summary["excluded_paths"] for r in pq.read_table(fs.open(p, "rb")).to_pylist()]
    mem_kept, mem_excluded = deduplicate(table, cfg)
    assert kept == mem_kept.to_pylist() and excluded == mem_excluded.to_pylist()
    assert not fs.exists("/s1-dedup/out/_dedup_work")
