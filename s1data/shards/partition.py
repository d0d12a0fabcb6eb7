"""Partitioned shard writing: cut a documents parquet into row ranges, each tokenized, mixed, packed and written alone.

A partition is a contiguous row range of the input dataset (one parquet file, or the files of a partitioned
dataset in name order, local or on an fsspec store), counted across files. Each one is written by `write_partition` (one Dask task in
the flow) with its own files (`part-<index>-<shard>.parquet`), so memory is bounded by one partition and the row
groups it overlaps, never the corpus.

Mixture per partition: every partition runs `plan_mixture` on its own documents with a seed derived from (seed,
partition index), and gets `max_tokens` split in proportion to its documents. The domain / source shares are met
inside each partition (within one document), hence over the whole output too (within one document per partition).
The result is deterministic given the seed and `partition_docs`; it differs from a single global plan only in the
order of documents and, with `on_exhausted='stop'`, in which documents are left out at the end. With the natural
mixture every document is written exactly once whatever the partitioning (only padding differs: one partial row
per partition).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from s1data.shards.config import ShardConfig

DOC_COLUMNS = ("doc_id", "text", "domain", "source_kind")


def plan_partitions(docs_path: str | Path, config: ShardConfig) -> list[dict]:
    """[{index, key, start, stop, max_tokens}]: consecutive row ranges of at most `partition_docs` rows, as few as
    that allows and of equal size (within one row), so the Dask tasks that write them take equal time."""
    from s1data.parts import dataset_files, num_rows

    n_rows = sum(num_rows(f) for f in dataset_files(str(docs_path)))
    n_parts = -(-n_rows // config.partition_docs)
    bounds = [n_rows * i // n_parts for i in range(n_parts + 1)] if n_rows else [0]
    parts = [{"index": i, "key": f"{i:05d}", "start": a, "stop": b, "max_tokens": None}
             for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    if config.max_tokens is not None and parts:  # the budget, split in proportion to documents (largest remainders)
        shares = [config.max_tokens * (p["stop"] - p["start"]) / n_rows for p in parts]
        budget = [int(s) for s in shares]
        for i in sorted(range(len(parts)), key=lambda i: (budget[i] - shares[i], i))[:config.max_tokens - sum(budget)]:
            budget[i] += 1
        for p, b in zip(parts, budget):
            p["max_tokens"] = b
    return parts


def partition_seed(seed: int, index: int) -> int:
    """The mixture seed of partition `index`: independent streams per partition, fixed by (seed, index)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def read_partition(docs_path: str | Path, start: int, stop: int):
    """Rows [start, stop) of the documents dataset (counted across its files) as `doc_id, text, domain,
    source_kind` (missing columns null); reads only the row groups that overlap the range."""
    import pyarrow as pa

    from s1data.parts import dataset_files, num_rows, read

    pieces, row = [], 0
    for f in dataset_files(str(docs_path)):
        n = num_rows(f)
        if row < stop and row + n > start:
            t = read({"path": f, "start": max(start, row) - row, "stop": min(stop, row + n) - row},
                     list(DOC_COLUMNS))
            for c in DOC_COLUMNS:
                t = t.append_column(c, pa.nulls(t.num_rows, pa.string())) if c not in t.column_names else t
            pieces.append(t.select(list(DOC_COLUMNS)).cast(pa.schema([(c, pa.string()) for c in DOC_COLUMNS])))
        row += n
        if row >= stop:
            break
    if not pieces:
        return pa.table({c: pa.array([], pa.string()) for c in DOC_COLUMNS})
    return pa.concat_tables(pieces)


def write_partition(docs_path: str | Path, part: dict, tokenizer_dir: str | Path, out_dir: str | Path,
                    config: ShardConfig, seed: int) -> dict:
    """Tokenize, mix, pack and write one partition's shards into out_dir; returns its summary (a Dask task)."""
    from s1data.shards.writer import TokenShardWriter

    t0 = time.perf_counter()
    cfg = config.model_copy(update={"max_tokens": part["max_tokens"]}) if config.max_tokens is not None else config
    docs = read_partition(docs_path, part["start"], part["stop"])
    writer = TokenShardWriter(tokenizer_dir, out_dir, cfg, partition_seed(seed, part["index"]),
                              file_prefix=f"part-{part['key']}")
    shards = writer.write(docs)
    reasons: dict[str, int] = {}
    for e in writer.exclusions:
        reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
    return {"out_dir": str(out_dir), "key": part["key"], "docs": docs.num_rows,
            "shards": [{k: (Path(v).name if k == "path" else v) for k, v in s.items()} for s in shards],
            "rows": sum(s["rows"] for s in shards), "tokens": sum(s["tokens"] for s in shards),
            "padding_tokens": sum(s["padding_tokens"] for s in shards), "excluded_docs": len(writer.exclusions),
            "exclusion_reasons": dict(sorted(reasons.items())), "exclusions": writer.exclusions[:1000],
            "seed": writer.seed, "tokenizer_fingerprint": writer.fingerprint, "seconds": time.perf_counter() - t0}
