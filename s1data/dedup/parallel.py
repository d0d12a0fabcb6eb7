"""Corpus-scale exact + MinHash-LSH dedup over parquet partitions, in parallel with Dask (or in-process).

Same clusters, representatives and reasons as `deduplicate` on the concatenation of the partitions (in the order
given), but text is only ever held one partition at a time, by the task working on it:

1. signatures, per partition (a task): read `doc_id`, `text` → one signature folder per partition (by default
   `work_dir/sig-PPPP/`; a caller may keep them, e.g. curation commits them and reuses them when the partition
   has not changed: only new partitions are signed, and the steps below run over the committed signatures):
   - `meta.parquet`: (idx, doc_id, exact_key) — the sha1 of the normalised text, never the text;
   - `sig.npy`: the uint32[n_p, num_perm] signatures (memory-mapped later to verify candidate pairs);
   - `bands.npy` + `bands.offsets.npy`: one (idx, band, key hash) row per doc and band, sorted by
     bucket = key hash mod B: the map side of the shuffle. `idx` is the row in the partition: the files do not
     depend on where the partition sits in the corpus (gidx = the partition's offset + idx).
2. exact duplicates, shuffled by key bucket: a task per partition writes `exact-PPPP.arrow` (its (idx, doc_id,
   exact_key) rows, one record batch per bucket = the key's first 8 bytes mod B), then a task per bucket reads its
   batch of every partition: within one exact key every doc but the smallest (doc_id, gidx) is `dedup_exact`
   (edge dup -> representative; dead for step 3), as in `deduplicate`.
3. shuffle by band, one task per bucket: read its slice of every partition's band rows, drop dead docs, group rows
   by (band, key); as in `near_duplicate_clusters`, each member of a group is a candidate with the group's first
   doc in concatenated order, kept as an edge when the estimated Jaccard similarity >= `threshold`. A key hash
   collision (two keys, one 64-bit hash) is detected against the signatures and the group split exactly.
4. connected components in rounds of tasks over node buckets (`s1data.dedup.components`: large-star /
   small-star until every component is a star on its smallest gidx), then the representative of each component,
   its smallest doc_id (ties: first in concatenated order), by a shuffle on the component label. A task per
   partition writes `assign-PPPP.parquet` (cluster_id, reason per row; a doc in no edge keeps its own id):
   `assign_partitions` stops here. The driver holds counts only: no step reads every document's id, key, edge
   or duplicate in one process.
5. write, per partition (a task): `kept-PPPP.parquet` (input columns + `cluster_id`) and `excluded-PPPP.parquet`
   (+ `filter`='dedup', `reason` dedup_exact / dedup_near_duplicate, `kept_doc_id`).

Array legend: N docs in the corpus, n docs in a partition, P permutations, R rows per band, E edges, T docs in
some edge.
Why the components equal `near_duplicate_clusters`: that loop merges doc i with the first doc of each of its band
buckets when their estimated similarity passes; the check is skipped only when both are already in one component,
which cannot change the components. So they are the connected components of exactly the edges computed here.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from s1data.dedup.minhash import DedupConfig, _normalised_words, _signatures_from_words

log = logging.getLogger(__name__)

_BAND_ROW = np.dtype([("gidx", "<i8"), ("key", "<u8"), ("band", "<u2")])  # one shuffle row per (doc, band)
_REASONS = np.array([None, "dedup_exact", "dedup_near_duplicate"], dtype=object)  # reason code → reason
_BATCH = 4096  # docs per signature batch: bounds the Python word lists of a partition
_SIGN_WORDS = 1 << 15  # words hashed at once: the shingle arrays (~8 int64 of this length) stay ~2 MiB


def _word_runs(words: list[list[bytes]], max_words: int = _SIGN_WORDS):
    """[start, stop) runs of consecutive documents of at most `max_words` words (at least one document each):
    signatures are per document, so hashing run by run gives the same ones with bounded numpy arrays."""
    start = n = 0
    for i, w in enumerate(words):
        if n and n + len(w) > max_words:
            yield start, i
            start, n = i, 0
        n += len(w)
    if start < len(words):
        yield start, len(words)


# ---- storage: local folders (memory-mapped) or any fsspec URL (read by byte range), for workers on other hosts ----

def _is_url(path) -> bool:
    return "://" in str(path)


def _j(base, name: str) -> str:
    from s1data.parts import join

    return join(str(base), name)


def _save(path: str, arr: np.ndarray) -> None:
    from s1data.parts import filesystem

    fs, p = filesystem(path)
    if not _is_url(path):
        fs.makedirs(os.path.dirname(p), exist_ok=True)
    with fs.open(p, "wb") as f:
        np.save(f, arr)


def _load(path: str, mmap: bool = False) -> np.ndarray:
    if not _is_url(path):
        return np.load(path, mmap_mode="r" if mmap else None)
    from s1data.parts import filesystem

    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        return np.load(f)


def _load_rows(path: str, lo: int, hi: int) -> np.ndarray:
    """Rows [lo, hi) of a 1-d .npy file: a memory map locally, one byte-range read on a store."""
    if not _is_url(path):
        return np.load(path, mmap_mode="r")[lo:hi]
    from s1data.parts import filesystem

    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        f.seek(f.tell() + lo * dtype.itemsize)
        return np.frombuffer(f.read((hi - lo) * dtype.itemsize), dtype=dtype)


def _write_pq(table: pa.Table, path: str) -> None:
    from s1data.parts import write

    write(table, path)


def _read_pq(path: str, columns: list[str] | None = None) -> pa.Table:
    from s1data.parts import filesystem

    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        return pq.read_table(f, columns=columns)


def _part_name(kind: str, p: int, ext: str) -> str:
    return f"{kind}-{p:04d}.{ext}"


def _band_hashes(sig_nP: np.ndarray, config: DedupConfig) -> np.ndarray:
    """uint64[n, bands]: a 64-bit hash of (band index, band's R signature values), multiply-xorshift mixing."""
    B, R = config.lsh_bands_rows
    n = len(sig_nP)
    h_nB = np.empty((n, B), dtype=np.uint64)
    m = np.uint64(0x9E3779B97F4A7C15)
    for j in range(B):
        h = np.full(n, ((j + 1) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
        for r in range(j * R, (j + 1) * R):
            h ^= sig_nP[:, r].astype(np.uint64)
            h *= m
            h ^= h >> np.uint64(29)
        h_nB[:, j] = h
    return h_nB


def sign_partition(path: str, out_dir: str, config: DedupConfig, num_buckets: int) -> dict:
    """Step 1 for one partition file: meta.parquet, sig.npy, bands.npy and bands.offsets.npy under `out_dir`
    (rows numbered from 0 in the file's order). Returns {"docs", "cpu_s", "files": {name: bytes}}."""
    t0 = time.process_time()
    from s1data.parts import filesystem

    fs, fp = filesystem(path)
    fh = fs.open(fp, "rb")
    pf = pq.ParquetFile(fh)
    ids, keys, sigs = [], [], []
    for batch in pf.iter_batches(batch_size=_BATCH, columns=["doc_id", "text"]):
        words = [_normalised_words(t) for t in batch.column("text").to_pylist()]
        ids.append(batch.column("doc_id"))
        if config.exact:
            keys.extend(hashlib.sha1(b" ".join(w)).digest() for w in words)
        if config.near:
            sigs.extend(_signatures_from_words(words[a:b], config) for a, b in _word_runs(words))
    n = sum(len(a) for a in ids)
    doc_id = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
    exact = pa.array(keys if config.exact else [b""] * n, pa.binary(20) if config.exact else pa.binary())
    fh.close()
    _write_pq(pa.table({"idx": pa.array(np.arange(n, dtype=np.int64)), "doc_id": doc_id.cast(pa.string()),
                        "exact_key": exact}), _j(out_dir, "meta.parquet"))
    if config.near:
        sig_nP = np.concatenate(sigs) if sigs else np.empty((0, config.num_perm), np.uint32)
        _save(_j(out_dir, "sig.npy"), sig_nP)
        h_nB = _band_hashes(sig_nP, config)
        B = h_nB.shape[1]
        rows = np.empty(n * B, dtype=_BAND_ROW)
        rows["gidx"] = np.repeat(np.arange(n, dtype=np.int64), B)
        rows["key"] = h_nB.ravel()
        rows["band"] = np.tile(np.arange(B, dtype=np.uint16), n)
        bucket = (rows["key"] % np.uint64(num_buckets)).astype(np.int64)
        order = np.argsort(bucket, kind="stable")
        _save(_j(out_dir, "bands.npy"), rows[order])
        _save(_j(out_dir, "bands.offsets.npy"), np.searchsorted(bucket[order], np.arange(num_buckets + 1)))
    files = {}
    for name in ("meta.parquet", "sig.npy", "bands.npy", "bands.offsets.npy"):
        fs2, p2 = filesystem(_j(out_dir, name))
        if fs2.exists(p2):
            files[name] = int(fs2.size(p2))
    return {"docs": n, "cpu_s": time.process_time() - t0, "files": files}


def sig_dir(work_dir: str, p: int) -> str:
    return _j(work_dir, f"sig-{p:04d}")


def signature_partition(path: str, p: int, offset: int, work_dir: str, config: DedupConfig,
                        num_buckets: int) -> dict:
    """Step 1 for partition p into `work_dir/sig-PPPP/` (`offset` is unused: the files are position-free)."""
    res = sign_partition(path, sig_dir(work_dir, p), config, num_buckets)
    return {"partition": p, "docs": res["docs"], "cpu_s": res["cpu_s"]}


class _Signatures:
    """Random access to the signatures of any doc by gidx, through memory-mapped `sig-PPPP.npy` files."""

    def __init__(self, sig_dirs: list[str], offsets: np.ndarray, num_perm: int):
        self.dirs, self.offsets, self.num_perm, self.maps = [str(d) for d in sig_dirs], offsets, num_perm, {}

    def take(self, gidx: np.ndarray) -> np.ndarray:
        out = np.empty((len(gidx), self.num_perm), dtype=np.uint32)
        part = np.searchsorted(self.offsets, gidx, side="right") - 1
        for p in np.unique(part).tolist():
            if p not in self.maps:
                self.maps[p] = _load(_j(self.dirs[p], "sig.npy"), mmap=True)
            sel = part == p
            out[sel] = self.maps[p][gidx[sel] - self.offsets[p]]
        return out


def bucket_edges(b: int, sig_dirs: list[str], work_dir: str, offsets: list[int], config: DedupConfig) -> dict:
    """Step 3 for bucket b: verified near-duplicate edges (band group's first doc, other doc) → edges-BBBB.npy."""
    t0 = time.process_time()
    work = str(work_dir)
    dead = _load(_j(work, "dead.npy"))  # sorted gidx of the exact duplicates (step 2)
    parts = []
    for p, d in enumerate(sig_dirs):
        off = _load(_j(d, "bands.offsets.npy"))
        if off[b + 1] > off[b]:
            rows_p = np.array(_load_rows(_j(d, "bands.npy"), int(off[b]), int(off[b + 1])))
            rows_p["gidx"] += offsets[p]
            parts.append(rows_p)
    rows = np.concatenate(parts) if parts else np.empty(0, _BAND_ROW)
    if len(dead):
        rows = rows[~np.isin(rows["gidx"], dead)]
    rows = rows[np.lexsort((rows["gidx"], rows["key"]))]  # groups by key hash, each in concatenated order
    first_row = np.ones(len(rows), dtype=bool)
    first_row[1:] = rows["key"][1:] != rows["key"][:-1]
    group_start = np.maximum.accumulate(np.where(first_row, np.arange(len(rows)), 0))
    other = np.flatnonzero(~first_row)
    src, dst = rows["gidx"][group_start[other]], rows["gidx"][other]
    band = rows["band"][other].astype(np.int64)
    sigs = _Signatures(sig_dirs, np.asarray(offsets, dtype=np.int64), config.num_perm)
    s_EP, d_EP = sigs.take(src), sigs.take(dst)
    R = config.lsh_bands_rows[1]
    cols = np.arange(R)[None, :] + (band * R)[:, None]
    same_key = (np.take_along_axis(s_EP, cols, 1) == np.take_along_axis(d_EP, cols, 1)).all(axis=1) \
        & (rows["band"][group_start[other]] == rows["band"][other])
    collisions = int((~same_key).sum())
    if collisions:  # a 64-bit hash collision: regroup those hash groups by their real keys
        src, dst, band = _regroup_collisions(rows, group_start, other, same_key, sigs, R, src, dst, band)
        s_EP, d_EP = sigs.take(src), sigs.take(dst)
    sim = np.count_nonzero(s_EP == d_EP, axis=1) / config.num_perm if len(src) else np.zeros(0)
    keep = sim >= config.threshold  # same float test as `near_duplicate_clusters`
    edges = np.unique(np.stack([src[keep], dst[keep]], axis=1), axis=0) if keep.any() \
        else np.empty((0, 2), np.int64)
    _save(_j(work, f"edges-{b:04d}.npy"), edges)
    return {"bucket": b, "rows": len(rows), "candidates": len(src), "edges": len(edges),
            "hash_collisions": collisions, "cpu_s": time.process_time() - t0}


def _regroup_collisions(rows, group_start, other, same_key, sigs, R, src, dst, band):
    """Exact (band, key) grouping for hash groups that hold more than one real key (practically never)."""
    bad_groups = np.unique(group_start[other[~same_key]])
    in_bad = np.isin(group_start, bad_groups)
    keep_pairs = ~np.isin(group_start[other], bad_groups)
    src, dst, band = [src[keep_pairs]], [dst[keep_pairs]], [band[keep_pairs]]
    bad_rows = rows[in_bad]  # already in (hash, gidx) order
    s = sigs.take(bad_rows["gidx"])
    first: dict[tuple[int, bytes], int] = {}
    for row, sig in zip(bad_rows, s):
        j = int(row["band"])
        key = (j, sig[j * R:(j + 1) * R].tobytes())
        f = first.setdefault(key, int(row["gidx"]))
        if f != row["gidx"]:
            src.append(np.array([f])), dst.append(np.array([row["gidx"]])), band.append(np.array([j]))
    return np.concatenate(src), np.concatenate(dst), np.concatenate(band)


def write_partition(path: str, p: int, work_dir: str, out_dir: str) -> dict:
    """Step 5 for partition p: kept and excluded rows, with `cluster_id` (and reasons) from assign-PPPP.parquet."""
    t0 = time.process_time()
    kept, excluded = split_by_assignment(_read_pq(path), _read_pq(_j(work_dir, _part_name("assign", p, "parquet"))))
    _write_pq(kept, _j(out_dir, _part_name("kept", p, "parquet")))
    _write_pq(excluded, _j(out_dir, _part_name("excluded", p, "parquet")))
    return {"partition": p, "kept": kept.num_rows, "excluded": excluded.num_rows, "cpu_s": time.process_time() - t0}


def _run(client, fn, args_list: list[tuple]) -> list:
    """One task per args tuple: on the Dask cluster when there is one, else in this process."""
    if client is None:
        return [fn(*args) for args in args_list]
    futures = [client.submit(fn, *args, pure=False) for args in args_list]
    return client.gather(futures)


def _num_rows(path: str) -> int:
    from s1data.parts import filesystem

    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        return pq.ParquetFile(f).metadata.num_rows


def _keys_S20(keys) -> np.ndarray:
    """The 20-byte exact keys of an Arrow column as a numpy S20 array (no copy)."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    if len(keys) == 0:
        return np.empty(0, dtype="S20")
    return np.frombuffer(keys.buffers()[1], dtype="S20", count=len(keys) + keys.offset)[keys.offset:]


def _key_bucket(keys, num_buckets: int) -> np.ndarray:
    """Shuffle bucket of each 20-byte exact key: its first 8 bytes (a sha1's, uniform) mod the bucket count."""
    raw = _keys_S20(keys)
    head = np.ascontiguousarray(raw.view(np.uint8).reshape(-1, 20)[:, :8]).view("<u8").ravel()
    return (head % np.uint64(num_buckets)).astype(np.int64)


def exact_split(sig_dir_p: str, p: int, work_dir: str, num_buckets: int) -> dict:
    """Step 2, map side, for partition p: its (idx, doc_id, exact_key) rows as `exact-PPPP.arrow`, one record batch
    per key bucket (empty batches included), so bucket b reads batch b of every partition and nothing else."""
    t0 = time.process_time()
    from s1data.parts import filesystem

    meta = _read_pq(_j(sig_dir_p, "meta.parquet"), ["idx", "doc_id", "exact_key"])
    bucket = _key_bucket(meta.column("exact_key"), num_buckets)
    order = np.argsort(bucket, kind="stable")
    meta = meta.take(pa.array(order)).combine_chunks()
    bounds = np.searchsorted(bucket[order], np.arange(num_buckets + 1))
    fs, path = filesystem(_j(work_dir, _part_name("exact", p, "arrow")))
    if not _is_url(work_dir):
        fs.makedirs(os.path.dirname(path), exist_ok=True)
    rows = meta.to_batches()[0] if meta.num_rows else pa.RecordBatch.from_pylist([], schema=meta.schema)
    with fs.open(path, "wb") as f, pa.ipc.new_file(f, meta.schema) as w:
        for b in range(num_buckets):  # an empty bucket is an empty batch: batch b is always bucket b
            w.write_batch(rows.slice(int(bounds[b]), int(bounds[b + 1] - bounds[b])))
    return {"partition": p, "docs": meta.num_rows, "cpu_s": time.process_time() - t0}


def exact_bucket(b: int, n_parts: int, work_dir: str, offsets: list[int]) -> dict:
    """Step 2, reduce side, for key bucket b: within one exact key every doc but the smallest (doc_id, gidx) is
    `dedup_exact`; writes `exact-edges-BBBB.npy` (dup gidx, representative gidx)."""
    t0 = time.process_time()
    from s1data.parts import filesystem

    batches = []
    for p in range(n_parts):
        fs, path = filesystem(_j(work_dir, _part_name("exact", p, "arrow")))
        with fs.open(path, "rb") as f:
            batch = pa.ipc.open_file(f).get_batch(b)
        if batch.num_rows:
            gidx = pc.add(batch.column("idx"), pa.scalar(int(offsets[p]), pa.int64()))
            batches.append(pa.table({"exact_key": batch.column("exact_key"), "doc_id": batch.column("doc_id"),
                                     "gidx": gidx}))
    edges = np.empty((0, 2), np.int64)
    if batches:
        t = pa.concat_tables(batches).combine_chunks()
        t = t.take(pc.sort_indices(t, sort_keys=[("exact_key", "ascending"), ("doc_id", "ascending"),
                                                 ("gidx", "ascending")]))
        k = _keys_S20(t.column("exact_key"))
        dup = np.zeros(len(k), dtype=bool)
        dup[1:] = k[1:] == k[:-1]
        start = np.maximum.accumulate(np.where(~dup, np.arange(len(k)), 0))
        g = t.column("gidx").to_numpy()
        edges = np.stack([g[dup], g[start[dup]]], axis=1).astype(np.int64)
    _save(_j(work_dir, f"exact-edges-{b:04d}.npy"), edges)
    return {"bucket": b, "dups": len(edges), "cpu_s": time.process_time() - t0}


def _doc_ids_at(sig_dir_p: str, idx: np.ndarray) -> pa.Array:
    """doc_ids of rows `idx` of one partition (read from its signature folder's doc_id column)."""
    return _read_pq(_j(sig_dir_p, "meta.parquet"), ["doc_id"]).column("doc_id").combine_chunks() \
        .take(pa.array(idx)).cast(pa.string())


def dead_set(exact_edge_paths: list[str], work_dir: str, offsets: list[int]) -> dict:
    """Step 2, end: `dead.npy`, the sorted gidx of the exact duplicates (the first column of the exact edges), and
    where each partition's rows start in it (a task: the driver never holds them)."""
    edges = [_load(p) for p in exact_edge_paths]
    dead = np.unique(np.concatenate([e[:, 0] for e in edges])) if edges else np.empty(0, np.int64)
    _save(_j(work_dir, "dead.npy"), dead.astype(np.int64))
    return {"dead": len(dead), "bounds": np.searchsorted(dead, np.asarray(offsets, np.int64)).tolist()}


def write_assignment(sig_dir_p: str, p: int, work_dir: str, offset: int, dead_lo: int, dead_hi: int,
                     reps_paths: list[str]) -> dict:
    """Step 4, per partition: `assign-PPPP.parquet` (cluster_id, reason per row). Rows in no duplicate relation
    keep their own doc_id and no reason; the others get their component's representative (`components`) and
    the reason: an exact duplicate, else a near duplicate unless they are the representative."""
    from .components import partition_reps

    doc_id = _read_pq(_j(sig_dir_p, "meta.parquet"), ["doc_id"]).column("doc_id").combine_chunks().cast(pa.string())
    n = len(doc_id)
    code_n = np.zeros(n, dtype=np.int8)
    if reps_paths:
        node, rep, rep_doc_id = partition_reps(reps_paths, p)
        idx = node - offset
        code_n[idx] = np.where(rep != node, 2, 0)
    else:
        idx, rep_doc_id = np.empty(0, np.int64), []
    if dead_hi > dead_lo:
        code_n[np.asarray(_load_rows(_j(work_dir, "dead.npy"), dead_lo, dead_hi)) - offset] = 1
    if len(idx):
        pos = np.full(n, -1, dtype=np.int64)
        pos[idx] = np.arange(len(idx))
        mask = pa.array(pos >= 0)
        cluster = pc.if_else(mask, pa.array(rep_doc_id, pa.string()).take(pa.array(np.maximum(pos, 0))), doc_id)
    else:
        cluster = doc_id
    path = _j(work_dir, _part_name("assign", p, "parquet"))
    part = pa.table({"cluster_id": cluster, "reason": pa.array(_REASONS[code_n], pa.string())})
    _write_pq(part, path)
    h = hashlib.sha256(code_n.tobytes())  # what the partition's rows are assigned: reason and cluster
    for v in cluster.to_pylist():
        h.update(v.encode("utf-8", "surrogatepass") + b"\x00")
    return {"partition": p, "path": path, "sha256": h.hexdigest(), "counts": np.bincount(code_n, minlength=3)}


def assign_partitions(sig_dirs: list[str], work_dir: str, config: DedupConfig | None = None, client=None,
                      num_buckets: int = 32) -> dict:
    """Steps 2-4 over the signature folders of step 1 (one per partition, in corpus order): writes
    `work_dir/assign-PPPP.parquet` (cluster_id, reason per row of partition P) and returns counts, timings and
    `assign_paths`. `num_buckets` must be the one the folders were signed with.

    Sharded end to end: exact keys are shuffled by key bucket like the bands, connected components run in rounds
    of tasks over node buckets (`s1data.dedup.components`), so no process holds every document, every edge or
    every duplicate; the driver keeps counts (README, "Memory")."""
    from .components import components

    config = config or DedupConfig()
    timings: dict[str, float] = {}
    from s1data.parts import filesystem

    work = str(work_dir)
    fs, dp = filesystem(work)
    fs.makedirs(dp, exist_ok=True)
    sig_dirs = [str(d) for d in sig_dirs]
    sizes = [_num_rows(_j(d, "meta.parquet")) for d in sig_dirs]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    run = functools.partial(_run, client)

    # 2. exact duplicates, shuffled by key bucket: dead docs leave the near-duplicate step
    t = time.perf_counter()
    exact_cpu = 0.0
    exact_paths = []
    if config.exact and n:
        step2 = run(exact_split, [(d, p, work, num_buckets) for p, d in enumerate(sig_dirs)])
        step2 += run(exact_bucket, [(b, len(sig_dirs), work, offsets.tolist()) for b in range(num_buckets)])
        exact_cpu = sum(r["cpu_s"] for r in step2)
        exact_paths = [_j(work, f"exact-edges-{b:04d}.npy") for b in range(num_buckets)]
    dead = run(dead_set, [(exact_paths, work, offsets.tolist())])[0]
    timings["exact_s"] = time.perf_counter() - t

    # 3. shuffle by band → verified near-duplicate edges
    t = time.perf_counter()
    step3 = []
    near_paths = []
    if config.near and n:
        step3 = run(bucket_edges, [(b, sig_dirs, work, offsets[:-1].tolist(), config) for b in range(num_buckets)])
        near_paths = [_j(work, f"edges-{b:04d}.npy") for b in range(num_buckets)]
    timings["shuffle_s"] = time.perf_counter() - t

    # 4. connected components in rounds of tasks → representative, cluster id and reason per partition
    t = time.perf_counter()
    groups = [[p for p in (exact_paths[b:b + 1] + near_paths[b:b + 1])] for b in range(num_buckets)]
    cc = components(run, groups, work, offsets, sig_dirs, num_buckets)
    touched = set(cc["touched"])
    db = dead["bounds"]
    step4 = run(write_assignment, [(sig_dirs[p], p, work, int(offsets[p]), db[p], db[p + 1],
                                    cc["reps_paths"] if p in touched else []) for p in range(len(sig_dirs))])
    timings["components_s"] = time.perf_counter() - t
    counts = np.sum([r["counts"] for r in step4], axis=0) if step4 else np.zeros(3, np.int64)
    return {
        "docs": n,
        "kept": int(counts[0]),
        "dedup_exact": int(counts[1]),
        "dedup_near_duplicate": int(counts[2]),
        "clusters_with_duplicates": cc["components"],
        "duplicate_nodes": cc["nodes"],
        "component_rounds": cc["rounds"],
        "band_candidates": int(sum(r["candidates"] for r in step3)),
        "near_edges": int(sum(r["edges"] for r in step3)),
        "hash_collisions": int(sum(r["hash_collisions"] for r in step3)),
        "task_cpu_s": {"exact": exact_cpu, "buckets": sum(r["cpu_s"] for r in step3)},
        "seconds": timings,
        "assign_paths": [r["path"] for r in step4],
        "assign_sha256": [r["sha256"] for r in step4],
    }


def split_by_assignment(table: pa.Table, assign: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(kept rows + `cluster_id`, excluded rows + filter / reason / kept_doc_id) of one partition."""
    table = table.append_column("cluster_id", assign.column("cluster_id"))
    reason = assign.column("reason")
    keep = pc.is_null(reason)
    kept, dropped = table.filter(keep), table.filter(pc.invert(keep))
    excluded = dropped.append_column("filter", pa.array(["dedup"] * dropped.num_rows, pa.string())) \
        .append_column("reason", reason.filter(pc.invert(keep))) \
        .append_column("kept_doc_id", dropped.column("cluster_id"))
    return kept, excluded


def dedup_partitions(partition_paths: list[str], out_dir: str, config: DedupConfig | None = None, client=None,
                     num_buckets: int = 32, work_dir: str | None = None, keep_work: bool = False) -> dict:
    """Dedup parquet partitions (columns doc_id, text, + any others, kept) as one corpus into
    out_dir/kept-PPPP.parquet and out_dir/excluded-PPPP.parquet; returns counts and step timings.

    `client`: a `distributed.Client` to run the per-partition and per-bucket steps on; None runs them here.
    `num_buckets`: shuffle buckets (tasks of step 3); a few per worker keeps them balanced and small.
    `work_dir` (default out_dir/_dedup_work, removed at the end unless `keep_work`): intermediate files, on storage
    every worker can read.
    """
    config = config or DedupConfig()
    t = time.perf_counter()
    from s1data.parts import filesystem, remove

    out = str(out_dir)
    work = str(work_dir) if work_dir else _j(out, "_dedup_work")
    for d in (out, work):
        fs, dp = filesystem(d)
        fs.makedirs(dp, exist_ok=True)
    paths = [os.fspath(p) for p in partition_paths]

    # 1. signatures, exact keys and shuffle rows per partition
    step1 = _run(client, signature_partition, [(p, i, 0, str(work), config, num_buckets) for i, p in enumerate(paths)])
    sig_s = time.perf_counter() - t
    summary = assign_partitions([sig_dir(work, i) for i in range(len(paths))], work, config, client, num_buckets)

    # 5. kept / excluded parquet per partition
    t = time.perf_counter()
    step5 = _run(client, write_partition, [(p, i, str(work), str(out)) for i, p in enumerate(paths)])
    summary["seconds"] = {"signatures_s": sig_s, **summary["seconds"], "write_s": time.perf_counter() - t}
    if not keep_work:
        remove(work)
    summary.pop("assign_paths"), summary.pop("assign_sha256")
    summary["task_cpu_s"] = {"signatures": sum(r["cpu_s"] for r in step1), **summary["task_cpu_s"],
                             "write": sum(r["cpu_s"] for r in step5)}
    summary["kept_paths"] = [_j(out, _part_name("kept", i, "parquet")) for i in range(len(paths))]
    summary["excluded_paths"] = [_j(out, _part_name("excluded", i, "parquet")) for i in range(len(paths))]
    log.info("dedup: %d docs, %d kept, %d exact, %d near duplicates", summary["docs"], summary["kept"],
             summary["dedup_exact"], summary["dedup_near_duplicate"])
    return summary
