"""Connected components in rounds of tasks (s1data.dedup.components) against scipy's, on graphs that stress the
rounds: a long path in shuffled order (diameter ~ n), stars, cliques, random sparse graphs; representatives are
each component's smallest (doc_id, gidx)."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from s1data.dedup import components as cc
from s1data.dedup.parallel import _run, _save


def _graph(rng, n):
    perm = rng.permutation(n)
    path = np.stack([perm[:600], perm[1:601]], axis=1)  # a 601-node path, ids in random order
    star = np.stack([np.full(50, perm[700]), perm[701:751]], axis=1)
    clique = np.array([(perm[800 + i], perm[800 + j]) for i in range(12) for j in range(12) if i != j])
    rand = rng.integers(900, n, size=(400, 2))  # sparse random edges among the rest (self loops included)
    e = np.concatenate([path, star, clique, rand, path[:40, ::-1]])  # some edges twice, both orientations
    return e[rng.permutation(len(e))].astype(np.int64)


def _expected(edges, n, doc_ids):
    g = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, label = connected_components(g, directed=False)
    nodes = np.unique(edges.ravel())
    rep = {}
    for v in nodes:  # smallest (doc_id, gidx) of the component
        key = (doc_ids[v], v)
        if label[v] not in rep or key < rep[label[v]]:
            rep[label[v]] = key
    # a node whose only edge is a self loop is in no duplicate relation
    loops_only = set(nodes.tolist()) - set(edges[edges[:, 0] != edges[:, 1]].ravel().tolist())
    return {int(v): rep[label[v]] for v in nodes if int(v) not in loops_only}


@pytest.mark.parametrize("n_buckets", [1, 3, 8])
def test_components_and_representatives_equal_scipy(tmp_path, n_buckets):
    rng = np.random.default_rng(n_buckets)
    n = 2000
    edges = _graph(rng, n)
    doc_ids = [f"d{x:05d}" for x in rng.permutation(n)]  # the smallest doc_id is rarely the smallest gidx
    offsets = np.array([0, 300, 300, 1100, n])  # four partitions, one empty
    sig_dirs = []
    for p in range(4):
        d = tmp_path / f"sig-{p}"
        d.mkdir()
        pq.write_table(pa.table({"doc_id": doc_ids[offsets[p]:offsets[p + 1]]}, schema=pa.schema(
            [("doc_id", pa.string())])), d / "meta.parquet")
        sig_dirs.append(str(d))
    groups = []
    for i, part in enumerate(np.array_split(edges, 3)):
        _save(str(tmp_path / f"e{i}.npy"), part)
        groups.append([str(tmp_path / f"e{i}.npy")])
    groups.append([])  # a bucket with no edge file
    res = cc.components(lambda fn, args: _run(None, fn, args), groups, str(tmp_path / "work"), offsets, sig_dirs,
                        n_buckets)

    want = _expected(edges, n, doc_ids)
    got = {}
    for p in res["touched"]:
        node, rep, rep_doc_id = cc.partition_reps(res["reps_paths"], p)
        assert np.all(np.diff(node) > 0) and np.all((node >= offsets[p]) & (node < offsets[p + 1]))
        got.update({int(v): (d, int(r)) for v, r, d in zip(node, rep, rep_doc_id)})
    assert got == want
    assert res["nodes"] == len(want) and res["components"] == len(set(want.values()))
    assert 1 not in res["touched"]  # the empty partition
    assert res["rounds"] < 60  # a 601-node path: O(log^2 n) rounds, not O(n)
    # only the representatives remain under cc/
    left = sorted(p.name for p in (tmp_path / "work" / "cc").iterdir())
    assert left == sorted(f"reps-{b:04d}.arrow" for b in range(n_buckets)), left


def test_no_edges_gives_no_nodes(tmp_path):
    (tmp_path / "sig").mkdir()
    pq.write_table(pa.table({"doc_id": ["a", "b"]}), tmp_path / "sig" / "meta.parquet")
    res = cc.components(lambda fn, args: _run(None, fn, args), [[]], str(tmp_path / "w"), np.array([0, 2]),
                        [str(tmp_path / "sig")], 2)
    assert res == {"reps_paths": [], "touched": [], "rounds": 1, "components": 0, "nodes": 0}


def test_an_unknown_step_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown star step"):
        cc.star_step("medium", [], 0, str(tmp_path / "o.arrow"), str(tmp_path / "l.arrow"), 1, [0, 1])
