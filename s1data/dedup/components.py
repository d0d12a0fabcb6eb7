"""Connected components of the duplicate graph in rounds of tasks: no process holds the graph.

Step 4 of `s1data.dedup.parallel`. The edges (exact and near-duplicate, as gidx pairs) are spread over node buckets;
each round is one task per bucket that reads its bucket's adjacency from every file of the round before and
writes its output edges, again one Arrow batch per destination bucket (the shuffle layout of the exact keys).

Rounds alternate large-star and small-star (Kiveris et al., "Connected Components in MapReduce and Beyond",
SoCC 2014): both keep connectivity, and together they reach a forest of stars, each centred on its component's
smallest gidx, in O(log^2 n) rounds. A task knows the forest is reached for its nodes when every node with a
smaller neighbour has exactly one neighbour; when all tasks say so, each node's smallest neighbour (or itself)
is its component's label, written by partition.

The representative of a component is its smallest (doc_id, gidx), as the in-memory clustering picks it: node
labels go to their partitions for the doc_ids, (label, doc_id, gidx) rows to label buckets for the minimum, and
(gidx, representative) rows back to the partitions, where `write_assignment` reads them.

Files under `work_dir/cc/` (local paths or object-store URLs); a driver keeps counts only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MAX_ROUNDS = 200  # O(log^2 n): 2e9 nodes need fewer than 1,000; real duplicate graphs converge in a handful


def node_bucket(x: np.ndarray, n: int) -> np.ndarray:
    """Bucket of each gidx: a multiplicative hash (neighbouring gidx land in different buckets)."""
    return ((x.astype(np.uint64) * _GOLDEN) >> np.uint64(33)).astype(np.int64) % n


def partition_of(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Partition of each gidx (offsets: P + 1 cumulative row counts)."""
    return np.searchsorted(offsets, x, side="right") - 1


def write_batches(path: str, table: pa.Table, key: np.ndarray, n: int) -> np.ndarray:
    """`table` as an Arrow IPC file of n record batches, batch i holding the rows with key i (empty batches
    included, so batch i is always key i); returns the row count per key."""
    from s1data.parts import filesystem

    from .parallel import _is_url

    order = np.argsort(key, kind="stable")
    rows = table.take(pa.array(order)).combine_chunks()
    rows = rows.to_batches()[0] if rows.num_rows else pa.RecordBatch.from_pylist([], schema=table.schema)
    bounds = np.searchsorted(key[order], np.arange(n + 1))
    fs, p = filesystem(path)
    if not _is_url(path):
        import os

        fs.makedirs(os.path.dirname(p), exist_ok=True)
    with fs.open(p, "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        for i in range(n):
            w.write_batch(rows.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i])))
    return np.diff(bounds)


def read_batch(paths: list[str], i: int, schema: pa.Schema) -> pa.Table:
    """Batch i of each IPC file in `paths`, concatenated (a byte-range read per file on a store)."""
    from s1data.parts import filesystem

    got = []
    for path in paths:
        fs, p = filesystem(path)
        with fs.open(p, "rb") as f:
            b = pa.ipc.open_file(f).get_batch(i)
            if b.num_rows:
                got.append(pa.Table.from_batches([b]))
    return pa.concat_tables(got) if got else schema.empty_table()


PAIRS = pa.schema([("a", pa.int64()), ("n", pa.int64())])  # n is a neighbour of a (both directions present)


def _write_pairs(path: str, x: np.ndarray, y: np.ndarray, n_buckets: int) -> int:
    """Undirected edges (x, y) as directed pairs both ways, by the bucket of their first node; self loops
    dropped."""
    keep = x != y
    a = np.concatenate([x[keep], y[keep]])
    nb = np.concatenate([y[keep], x[keep]])
    write_batches(path, pa.table({"a": a, "n": nb}, schema=PAIRS), node_bucket(a, n_buckets), n_buckets)
    return len(a)


def seed(edge_paths: list[str], out_path: str, n_buckets: int) -> dict:
    """Round 0 for one group of edge files (.npy, E x 2 gidx): their edges as pairs by node bucket."""
    from .parallel import _load

    edges = [_load(p) for p in edge_paths]
    e = np.concatenate(edges) if edges else np.empty((0, 2), np.int64)
    return {"pairs": _write_pairs(out_path, e[:, 0].astype(np.int64), e[:, 1].astype(np.int64), n_buckets)}


LABELS = pa.schema([("node", pa.int64()), ("label", pa.int64())])


def star_step(kind: str, in_paths: list[str], b: int, out_path: str, labels_path: str, n_buckets: int,
              offsets: list[int]) -> dict:
    """One round for node bucket b: reads the bucket's pairs from every file of the round before, writes the
    large-star or small-star output edges to `out_path`; if the bucket's nodes already form stars centred on their
    smallest member, also writes (node, label) by partition to `labels_path`."""
    t = read_batch(in_paths, b, PAIRS)
    a, nb = t.column("a").to_numpy(), t.column("n").to_numpy()
    if len(a):
        pairs = np.unique(np.stack([a, nb], axis=1), axis=0)  # sorted by (a, n)
        a, nb = pairs[:, 0], pairs[:, 1]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]]) if len(a) else np.empty(0, np.int64)
    nodes = a[starts]
    degree = np.diff(np.r_[starts, len(a)])
    min_n = nb[starts]  # sorted by (a, n): the first neighbour is the smallest
    m = np.minimum(nodes, min_n)  # smallest of each node's closed neighbourhood
    violations = int(np.count_nonzero((min_n < nodes) & (degree > 1)))
    per_part = None
    if violations == 0:
        off = np.asarray(offsets, dtype=np.int64)
        per_part = write_batches(labels_path, pa.table({"node": nodes, "label": m}, schema=LABELS),
                                 partition_of(nodes, off), len(off) - 1)
    m_of = np.repeat(m, degree)
    if kind == "large":  # every larger neighbour v of a is linked to m(a)
        sel = nb > a
        x, y = nb[sel], m_of[sel]
    elif kind == "small":  # every smaller neighbour v of a, and a itself, is linked to m(a)
        sel = nb < a
        x, y = np.concatenate([nb[sel], nodes]), np.concatenate([m_of[sel], m])
    else:
        raise ValueError(f"unknown star step {kind!r}")
    return {"bucket": b, "violations": violations, "nodes": len(nodes),
            "pairs": _write_pairs(out_path, x, y, n_buckets),
            "per_partition": per_part}


IDS = pa.schema([("label", pa.int64()), ("doc_id", pa.string()), ("node", pa.int64())])


def label_ids(label_paths: list[str], p: int, sig_dir_p: str, offset: int, out_path: str, n_buckets: int) -> dict:
    """For partition p: its nodes' labels with their doc_ids, by label bucket."""
    from .parallel import _doc_ids_at

    t = read_batch(label_paths, p, LABELS).sort_by("node")
    node = t.column("node").to_numpy()
    label = t.column("label").to_numpy()
    ids = _doc_ids_at(sig_dir_p, node - offset) if len(node) else pa.array([], pa.string())
    write_batches(out_path, pa.table({"label": label, "doc_id": ids, "node": node}, schema=IDS),
                  node_bucket(label, n_buckets), n_buckets)
    return {"partition": p, "nodes": len(node)}


REPS = pa.schema([("node", pa.int64()), ("rep", pa.int64()), ("rep_doc_id", pa.string())])


def representatives(ids_paths: list[str], b: int, out_path: str, offsets: list[int]) -> dict:
    """For label bucket b: each component's smallest (doc_id, gidx), written for every member by partition."""
    t = read_batch(ids_paths, b, IDS)
    t = t.sort_by([("label", "ascending"), ("doc_id", "ascending"), ("node", "ascending")])
    label = t.column("label").to_numpy()
    first = np.r_[True, label[1:] != label[:-1]] if len(label) else np.empty(0, bool)
    head = np.maximum.accumulate(np.where(first, np.arange(len(label)), 0))
    idx = pa.array(head)
    node = t.column("node").to_numpy()
    off = np.asarray(offsets, dtype=np.int64)
    out = pa.table({"node": node, "rep": node[head], "rep_doc_id": t.column("doc_id").take(idx)}, schema=REPS)
    write_batches(out_path, out, partition_of(node, off), len(off) - 1)
    return {"bucket": b, "components": int(first.sum()), "nodes": len(node)}


def partition_reps(reps_paths: list[str], p: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(sorted gidx, representative gidx, representative doc_id) of partition p's nodes in some edge."""
    t = read_batch(reps_paths, p, REPS).sort_by("node")
    return (t.column("node").to_numpy(), t.column("rep").to_numpy(),
            t.column("rep_doc_id").cast(pa.string()).to_pylist())


def _rm(paths: list[str]) -> None:
    from s1data.parts import filesystem

    for path in paths:
        fs, p = filesystem(path)
        if fs.exists(p):
            fs.rm(p)


def components(run, edge_groups: list[list[str]], work: str, offsets: np.ndarray, sig_dirs: list[str],
               n_buckets: int) -> dict:
    """Labels every node of the edge files with its component's representative; returns `reps_paths` (read by
    `partition_reps`), `touched` (partitions with nodes in some edge) and counts. `run(fn, args_list)` runs one
    task per args tuple (on the cluster or here)."""
    from .parallel import _j

    offs = [int(x) for x in offsets]
    n_parts = len(offs) - 1
    cc = _j(work, "cc")
    paths = [_j(cc, f"r0000-{i:04d}.arrow") for i in range(len(edge_groups))]
    run(seed, [(g, p, n_buckets) for g, p in zip(edge_groups, paths)])
    rounds = 0
    while True:
        if rounds >= MAX_ROUNDS:
            raise RuntimeError(f"dedup components did not converge in {MAX_ROUNDS} rounds")
        kind = "large" if rounds % 2 == 0 else "small"
        out = [_j(cc, f"r{rounds + 1:04d}-{b:04d}.arrow") for b in range(n_buckets)]
        labels = [_j(cc, f"labels-{rounds:04d}-{b:04d}.arrow") for b in range(n_buckets)]
        res = run(star_step, [(kind, paths, b, out[b], labels[b], n_buckets, offs) for b in range(n_buckets)])
        rounds += 1
        _rm(paths)
        if sum(r["violations"] for r in res) == 0:
            _rm(out)
            break
        _rm([labels[r["bucket"]] for r in res if r["per_partition"] is not None])
        paths = out
    per_part = np.sum([r["per_partition"] for r in res], axis=0) if res else np.zeros(n_parts, np.int64)
    touched = np.flatnonzero(per_part).tolist()
    ids = [_j(cc, f"ids-{p:04d}.arrow") for p in touched]
    run(label_ids, [(labels, p, sig_dirs[p], offs[p], ids[i], n_buckets) for i, p in enumerate(touched)])
    reps = [_j(cc, f"reps-{b:04d}.arrow") for b in range(n_buckets)]
    got = run(representatives, [(ids, b, reps[b], offs) for b in range(n_buckets)]) if touched else []
    _rm(labels + ids)
    return {"reps_paths": reps if touched else [], "touched": touched, "rounds": rounds,
            "components": int(sum(r["components"] for r in got)), "nodes": int(sum(r["nodes"] for r in got))}
