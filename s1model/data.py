"""Token shards → per-rank micro-batches, deterministic in (seed, step).

Shard contract (written by s1data/shards): parquet, columns `input_ids: list<int32>` (exactly seq_len long),
`doc_lens: list<int32>` (segments summing to seq_len), `domains: list<string>`, `doc_ids: list<string>`; file
metadata `s1.tokenizer_fingerprint`, `s1.seq_len`.

Order: epoch e visits all rows in the permutation `default_rng(seed + e)`. Step s consumes the next
`rows_per_rank(s) * dp_size * grad_accum` rows, so any step's batch is a pure function of (seed, step) and a resumed
run sees exactly the rows the uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq


@dataclass
class TokenRows:
    """All rows of a set of shards, in memory: input_ids_NS int32 and per-row document lengths."""

    input_ids_NS: np.ndarray
    doc_lens: list[list[int]]
    tokenizer_fingerprint: str | None

    def __len__(self) -> int:
        return self.input_ids_NS.shape[0]


def read_shards(paths: list[str], seq_len: int, vocab_size: int) -> TokenRows:
    """Read and check shards: seq_len and tokenizer fingerprint agree, ids < vocab_size, doc_lens sum to seq_len."""
    if not paths:
        raise ValueError("no token shards given; pass the token_shards artifact's parquet files.")
    ids, lens, fingerprint = [], [], None
    for path in sorted(paths):
        table = pq.read_table(path, columns=["input_ids", "doc_lens"])
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if int(meta.get("s1.seq_len", seq_len)) != seq_len:
            raise ValueError(f"{path}: shard seq_len {meta['s1.seq_len']} != config seq_len {seq_len}; set "
                             f"PretrainConfig.seq_len to the shards' value.")
        fp = meta.get("s1.tokenizer_fingerprint")
        if fingerprint is not None and fp != fingerprint:
            raise ValueError(f"{path}: tokenizer fingerprint {fp} differs from {fingerprint}; shards of one run "
                             "must come from one tokenizer.")
        fingerprint = fp
        flat = table.column("input_ids").combine_chunks().flatten().to_numpy().astype(np.int32)
        ids.append(flat.reshape(-1, seq_len))
        lens.extend(table.column("doc_lens").to_pylist())
    input_ids_NS = np.concatenate(ids)
    if input_ids_NS.max(initial=0) >= vocab_size:
        raise ValueError(f"token id {int(input_ids_NS.max())} >= vocab_size {vocab_size}; set model.vocab_size to "
                         "the tokenizer's size (embeddings are resized when continuing from a checkpoint).")
    bad = [i for i, row in enumerate(lens) if sum(row) != seq_len]
    if bad:
        raise ValueError(f"rows {bad[:5]} have doc_lens not summing to seq_len {seq_len}.")
    return TokenRows(input_ids_NS, lens, fingerprint)


def rows_per_rank(step: int, micro_batch_size: int, warmup_start: int | None, warmup_steps: int) -> int:
    """Batch-size warm-up: rows per rank per micro-batch ramp linearly from warmup_start to micro_batch_size."""
    if warmup_start is None or warmup_steps <= 0 or step >= warmup_steps:
        return micro_batch_size
    return int(round(warmup_start + (micro_batch_size - warmup_start) * step / warmup_steps))


def global_row_indices(n_rows: int, seed: int, start: int, count: int) -> np.ndarray:
    """Rows [start, start+count) of the endless stream of per-epoch permutations."""
    out, pos = [], start
    while len(out) < count:
        epoch, offset = divmod(pos, n_rows)
        perm = np.random.default_rng(seed + epoch).permutation(n_rows)
        take = perm[offset:offset + count - len(out)]
        out.extend(take.tolist())
        pos += len(take)
    return np.asarray(out, dtype=np.int64)


def attention_cost(doc_lens: list[int]) -> int:
    """Proxy for a row's attention work under document masking: sum of squared document lengths."""
    return sum(n * n for n in doc_lens)


def deal_rows(costs: list[int], dp_size: int) -> list[list[int]]:
    """Split len(costs) = dp_size * m rows into dp_size groups of m, balancing summed cost.

    Longest-processing-time greedy: rows by decreasing cost, each to the least-loaded rank that still has room;
    ties broken by rank id and row index, so the deal is deterministic.
    """
    m = len(costs) // dp_size
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    load, groups = [0] * dp_size, [[] for _ in range(dp_size)]
    for i in order:
        r = min((r for r in range(dp_size) if len(groups[r]) < m), key=lambda r: (load[r], r))
        groups[r].append(i)
        load[r] += costs[i]
    return [sorted(g) for g in groups]


class StepBatches:
    """The micro-batches of one rank for each optimizer step."""

    def __init__(self, rows: TokenRows, config, dp_rank: int, dp_size: int):
        self.rows, self.cfg, self.dp_rank, self.dp_size = rows, config, dp_rank, dp_size

    def rows_per_step(self, step: int) -> int:
        c = self.cfg
        return rows_per_rank(step, c.micro_batch_size, c.batch_warmup_start, c.batch_warmup_steps) \
            * self.dp_size * c.gradient_accumulation_steps

    def start_row(self, step: int) -> int:
        """Rows consumed before `step` (a sum over the warm-up, constant afterwards)."""
        c = self.cfg
        warm = min(step, c.batch_warmup_steps if c.batch_warmup_start is not None else 0)
        return sum(self.rows_per_step(s) for s in range(warm)) + (step - warm) * self.rows_per_step(step)

    def micro_batches(self, step: int) -> list[tuple[np.ndarray, list[list[int]]]]:
        """[(input_ids_BS, doc_lens)] for this rank, one per gradient-accumulation micro-batch."""
        c = self.cfg
        n = self.rows_per_step(step)
        idx = global_row_indices(len(self.rows), c.seed, self.start_row(step), n)
        per_micro = n // c.gradient_accumulation_steps
        out = []
        for g in range(c.gradient_accumulation_steps):
            chunk = idx[g * per_micro:(g + 1) * per_micro]
            if c.length_balanced:
                groups = deal_rows([attention_cost(self.rows.doc_lens[i]) for i in chunk], self.dp_size)
                mine = chunk[groups[self.dp_rank]]
            else:
                mine = chunk[self.dp_rank::self.dp_size]
            out.append((self.rows.input_ids_NS[mine], [self.rows.doc_lens[i] for i in mine]))
        return out
