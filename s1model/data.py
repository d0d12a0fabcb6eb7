"""Token shards → per-rank micro-batches, deterministic in (seed, step).

Shard contract (written by s1data/shards): parquet, columns `input_ids: list<int32>` (exactly seq_len long),
`doc_lens: list<int32>` (segments summing to seq_len), `domains: list<string>`, `doc_ids: list<string>`; file
metadata `s1.tokenizer_fingerprint`, `s1.seq_len`.

Two row sources, one step→rows contract:
  `read_shards` → `TokenRows` (everything in memory): epoch e visits all rows in the permutation
  `default_rng(seed + e)`.
  `ShardStream` (bounded memory, reads parquet row groups on demand): epoch e shuffles the row groups of all shards,
  cuts them into blocks of `window` row groups and permutes the rows inside each block (a shuffle buffer of one
  block); at most one block is decoded at a time.
Step s consumes the next `rows_per_rank(s) * dp_size * grad_accum` rows of the source's endless stream, so any step's
batch is a pure function of (seed, step) and a resumed run sees exactly the rows the uninterrupted one would; ranks
take disjoint parts of each step's rows, and within an epoch no row is handed out twice.
"""

from __future__ import annotations

import os
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
    """The micro-batches of one rank for each optimizer step, from `TokenRows` (in memory) or a `ShardStream`."""

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

    def step_rows(self, step: int) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
        """The whole global batch of `step` in stream order: (input_ids_NS, doc_lens, global row ids)."""
        n = self.rows_per_step(step)
        if isinstance(self.rows, ShardStream):
            return self.rows.read(self.start_row(step), n)
        idx = global_row_indices(len(self.rows), self.cfg.seed, self.start_row(step), n)
        return self.rows.input_ids_NS[idx], [self.rows.doc_lens[i] for i in idx], idx

    def micro_batches(self, step: int, with_row_ids: bool = False) -> list[tuple]:
        """[(input_ids_BS, doc_lens)] for this rank, one per gradient-accumulation micro-batch (with
        `with_row_ids`, a third element: the rows' global ids, for tests and lineage)."""
        c = self.cfg
        ids_NS, lens, row_ids = self.step_rows(step)
        per_micro = len(lens) // c.gradient_accumulation_steps
        out = []
        for g in range(c.gradient_accumulation_steps):
            chunk = np.arange(g * per_micro, (g + 1) * per_micro)
            if c.length_balanced:
                groups = deal_rows([attention_cost(lens[i]) for i in chunk], self.dp_size)
                mine = chunk[groups[self.dp_rank]]
            else:
                mine = chunk[self.dp_rank::self.dp_size]
            item = (ids_NS[mine], [lens[i] for i in mine])
            out.append(item + (row_ids[mine],) if with_row_ids else item)
        return out


# --- streaming: parquet row groups on demand ------------------------------------------------------------------------

@dataclass(frozen=True)
class RowGroup:
    """One parquet row group of a shard; `first_row` is its rows' first global id (shards sorted by path)."""

    path: str
    index: int
    num_rows: int
    first_row: int


class ShardStream:
    """Token shards as an endless, seeded, resumable row stream that never holds more than one block in memory.

    Only the parquet footers are read up front (row-group sizes, seq_len, tokenizer fingerprint). Epoch e visits
    every row once: row groups in the order `default_rng([seed, e]).permutation`, cut into blocks of `window`
    row groups, rows of block b in the order `default_rng([seed, e, b]).permutation`. Stream position p is a pure
    function of (seed, p), so `read(start, count)` can start anywhere (resume) and reads only the blocks it touches.
    A global row id is `RowGroup.first_row + row index inside the row group`.

    Checks as in `read_shards`: seq_len and fingerprint from the metadata up front; token ids < vocab_size and
    doc_lens sums when a row group is read.
    """

    def __init__(self, paths: list[str], seq_len: int, vocab_size: int, seed: int = 0, window: int = 4):
        if not paths:
            raise ValueError("no token shards given; pass the token_shards artifact's parquet files.")
        if window < 1:
            raise ValueError("window must be >= 1 row group.")
        self.seq_len, self.vocab_size, self.seed, self.window = seq_len, vocab_size, seed, window
        self.row_groups: list[RowGroup] = []
        self.tokenizer_fingerprint = None
        first = 0
        for i, path in enumerate(sorted(paths)):
            md = pq.ParquetFile(path).metadata
            meta = {k.decode(): v.decode() for k, v in (md.metadata or {}).items()}
            if int(meta.get("s1.seq_len", seq_len)) != seq_len:
                raise ValueError(f"{path}: shard seq_len {meta['s1.seq_len']} != config seq_len {seq_len}; set "
                                 f"PretrainConfig.seq_len to the shards' value.")
            fp = meta.get("s1.tokenizer_fingerprint")
            if i and fp != self.tokenizer_fingerprint:
                raise ValueError(f"{path}: tokenizer fingerprint {fp} differs from {self.tokenizer_fingerprint}; "
                                 "shards of one run must come from one tokenizer.")
            self.tokenizer_fingerprint = fp
            for g in range(md.num_row_groups):
                n = md.row_group(g).num_rows
                if n:
                    self.row_groups.append(RowGroup(os.path.abspath(path), g, n, first))
                    first += n
        self.n_rows = first
        if not self.n_rows:
            raise ValueError("the token shards hold no rows.")
        self._plan: tuple[int, list[list[int]], np.ndarray] | None = None  # epoch, blocks, block start offsets
        self._block: tuple[int, int, np.ndarray, list[list[int]], np.ndarray] | None = None
        self.blocks_read = 0  # how many blocks were decoded (a block is decoded once per sequential pass)
        self.max_resident_rows = 0  # most rows decoded at once (bounded by the largest block)

    def __len__(self) -> int:
        return self.n_rows

    def _epoch_plan(self, epoch: int) -> tuple[list[list[int]], np.ndarray]:
        if self._plan is None or self._plan[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.row_groups)).tolist()
            blocks = [order[i:i + self.window] for i in range(0, len(order), self.window)]
            sizes = [sum(self.row_groups[g].num_rows for g in b) for b in blocks]
            self._plan = (epoch, blocks, np.concatenate([[0], np.cumsum(sizes)]))
        return self._plan[1], self._plan[2]

    def _load_block(self, epoch: int, b: int) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
        """Rows of block b of the epoch in their shuffled order: (input_ids_NS, doc_lens, global row ids)."""
        if self._block is not None and self._block[:2] == (epoch, b):
            return self._block[2:]
        self._block = None  # drop the previous block before decoding the next: one block resident at a time
        blocks, _ = self._epoch_plan(epoch)
        ids, lens, gids = [], [], []
        for g in blocks[b]:
            rg = self.row_groups[g]
            table = pq.ParquetFile(rg.path).read_row_group(rg.index, columns=["input_ids", "doc_lens"])
            flat = table.column("input_ids").combine_chunks().flatten().to_numpy().astype(np.int32)
            if flat.size != rg.num_rows * self.seq_len:
                raise ValueError(f"{rg.path} row group {rg.index}: rows are not {self.seq_len} tokens long.")
            if flat.max(initial=0) >= self.vocab_size:
                raise ValueError(f"{rg.path}: token id {int(flat.max())} >= vocab_size {self.vocab_size}; set "
                                 "model.vocab_size to the tokenizer's size.")
            dl = table.column("doc_lens").to_pylist()
            if any(sum(x) != self.seq_len for x in dl):
                raise ValueError(f"{rg.path} row group {rg.index}: doc_lens do not sum to seq_len {self.seq_len}.")
            ids.append(flat.reshape(-1, self.seq_len))
            lens.extend(dl)
            gids.append(np.arange(rg.first_row, rg.first_row + rg.num_rows, dtype=np.int64))
        perm = np.random.default_rng([self.seed, epoch, b]).permutation(len(lens))
        ids_NS, row_ids = np.concatenate(ids)[perm], np.concatenate(gids)[perm]
        lens = [lens[i] for i in perm]
        self.blocks_read += 1
        self.max_resident_rows = max(self.max_resident_rows, len(lens))
        self._block = (epoch, b, ids_NS, lens, row_ids)
        return ids_NS, lens, row_ids

    def read(self, start: int, count: int) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
        """Stream positions [start, start+count): (input_ids_NS, doc_lens, global row ids)."""
        ids, lens, gids, pos = [], [], [], start
        while pos < start + count:
            epoch, off = divmod(pos, self.n_rows)
            _, starts = self._epoch_plan(epoch)
            b = int(np.searchsorted(starts, off, side="right")) - 1
            blk_ids, blk_lens, blk_gids = self._load_block(epoch, b)
            lo = off - int(starts[b])
            hi = min(len(blk_lens), lo + start + count - pos)
            ids.append(blk_ids[lo:hi])
            lens.extend(blk_lens[lo:hi])
            gids.append(blk_gids[lo:hi])
            pos += hi - lo
        if not count:
            return np.zeros((0, self.seq_len), np.int32), [], np.zeros(0, np.int64)
        return np.concatenate(ids), lens, np.concatenate(gids)
