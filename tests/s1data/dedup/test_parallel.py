import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s1data.dedup import DedupConfig, dedup_partitions, deduplicate
from s1data.dedup import parallel

VOCAB = [f"w{i}" for i in range(5000)]
N_ORIGINALS, N_EXACT, N_NEAR, N_PARTITIONS = 480, 40, 40, 4


def planted_corpus(seed=0):
    """Originals plus N_EXACT exact copies (case / punctuation changed) and N_NEAR near copies (~1% of words
    changed, at least one), shuffled over the partitions with random doc ids, so a duplicate and its original
    are usually in different partitions and the original does not always have the smaller doc_id."""
    rng = random.Random(seed)
    originals = [" ".join(rng.choice(VOCAB) for _ in range(rng.randint(100, 300))) for _ in range(N_ORIGINALS)]
    sources = rng.sample(range(N_ORIGINALS), N_EXACT + N_NEAR)
    copies = []
    for s in sources[:N_EXACT]:
        copies.append(originals[s].upper().replace(" ", ", ", 3) + " !")
    for s in sources[N_EXACT:]:
        words = originals[s].split()
        for i in rng.sample(range(len(words)), max(1, len(words) // 100)):
            words[i] = rng.choice(VOCAB) + "x"
        copies.append(" ".join(words))
    texts = originals + copies
    rng.shuffle(texts)
    ids = [f"doc-{i:06d}" for i in rng.sample(range(10**6), len(texts))]
    return pa.table({"doc_id": ids, "text": texts, "url": [f"https://e.org/{i}" for i in ids],
                     "n_words": [len(t.split()) for t in texts]})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    table = planted_corpus()
    root = tmp_path_factory.mktemp("corpus")
    bounds = np.linspace(0, table.num_rows, N_PARTITIONS + 1).astype(int)
    paths = []
    for p in range(N_PARTITIONS):
        paths.append(str(root / f"part-{p}.parquet"))
        pq.write_table(table.slice(bounds[p], bounds[p + 1] - bounds[p]), paths[-1])
    return table, paths


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def read_outputs(summary):
    kept = pa.concat_tables(pq.read_table(p) for p in summary["kept_paths"])
    excluded = pa.concat_tables(pq.read_table(p) for p in summary["excluded_paths"])
    return kept, excluded


def assert_same_as_in_memory(table, summary, config):
    kept, excluded = read_outputs(summary)
    mem_kept, mem_excluded = deduplicate(table, config)
    assert kept.to_pylist() == mem_kept.to_pylist()
    assert excluded.to_pylist() == mem_excluded.to_pylist()


def test_on_a_dask_cluster_the_planted_duplicates_are_excluded_with_their_reasons(corpus, client, tmp_path):
    table, paths = corpus
    summary = dedup_partitions(paths, tmp_path, DedupConfig(), client=client, num_buckets=8)
    kept, excluded = read_outputs(summary)
    assert (summary["docs"], summary["kept"]) == (table.num_rows, N_ORIGINALS)
    assert (summary["dedup_exact"], summary["dedup_near_duplicate"]) == (N_EXACT, N_NEAR)
    assert sorted(excluded.column("reason").to_pylist()) == ["dedup_exact"] * N_EXACT + \
        ["dedup_near_duplicate"] * N_NEAR
    assert set(excluded.column("filter").to_pylist()) == {"dedup"}
    kept_ids = set(kept.column("doc_id").to_pylist())
    assert set(excluded.column("kept_doc_id").to_pylist()) <= kept_ids
    assert kept.column("cluster_id").to_pylist() == kept.column("doc_id").to_pylist()
    assert kept.column_names == table.column_names + ["cluster_id"]  # other columns ride along
    assert summary["hash_collisions"] == 0


def test_on_a_dask_cluster_the_clusters_equal_the_in_memory_deduplicate(corpus, client, tmp_path):
    table, paths = corpus
    summary = dedup_partitions(paths, tmp_path, DedupConfig(), client=client, num_buckets=5)
    assert_same_as_in_memory(table, summary, DedupConfig())


@pytest.mark.parametrize("config", [DedupConfig(), DedupConfig(exact=False), DedupConfig(near=False),
                                    DedupConfig(shingle_words=3, num_perm=64, bands=8, threshold=0.5, seed=3),
                                    DedupConfig(threshold=0.5), DedupConfig(threshold=0.9),
                                    DedupConfig(num_perm=100, bands=16, threshold=0.6)],
                         ids=["default", "near_only", "exact_only", "small_signatures", "bands_for_0.5",
                              "bands_for_0.9", "bands_rows_not_dividing"])
def test_in_process_the_clusters_equal_the_in_memory_deduplicate(corpus, tmp_path, config):
    table, paths = corpus
    assert_same_as_in_memory(table, dedup_partitions(paths, tmp_path, config, num_buckets=3), config)


def test_the_representative_is_the_smallest_doc_id_even_when_it_comes_later(tmp_path):
    text = " ".join(VOCAB[:200])
    near = text.replace("w7 ", "changed ", 1)
    for p, rows in enumerate([[("z", near), ("m", "w1 w2 w3")], [("b", text.upper()), ("a", text)]]):
        pq.write_table(pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows]}),
                       tmp_path / f"in-{p}.parquet")
    summary = dedup_partitions([str(tmp_path / f"in-{p}.parquet") for p in range(2)], tmp_path / "out")
    _, excluded = read_outputs(summary)
    assert sorted((r["doc_id"], r["reason"], r["kept_doc_id"]) for r in excluded.to_pylist()) == \
        [("b", "dedup_exact", "a"), ("z", "dedup_near_duplicate", "a")]


def test_a_band_hash_collision_is_split_by_the_real_keys(corpus, tmp_path, monkeypatch):
    table, paths = corpus
    # every doc hashes to 0 in every band: one hash group holding every (band, key)
    monkeypatch.setattr(parallel, "_band_hashes",
                        lambda sig, config: np.zeros((len(sig), config.lsh_bands_rows[0]), np.uint64))
    summary = dedup_partitions(paths, tmp_path, DedupConfig(), num_buckets=2)
    assert summary["hash_collisions"] > 0
    assert_same_as_in_memory(table, summary, DedupConfig())


def test_the_work_files_hold_no_text_and_are_removed_afterwards(corpus, tmp_path):
    _, paths = corpus
    dedup_partitions(paths, tmp_path / "out", work_dir=tmp_path / "work", keep_work=True)
    assert pq.read_schema(tmp_path / "work" / "sig-0000" / "meta.parquet").names == ["idx", "doc_id", "exact_key"]
    dedup_partitions(paths, tmp_path / "out2")
    assert not (tmp_path / "out2" / "_dedup_work").exists()


def test_bands_times_rows_beyond_num_perm_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="lower bands or rows"):
        DedupConfig(num_perm=100, bands=16, rows=7)


def test_an_empty_partition_among_others_changes_nothing(corpus, tmp_path):
    table, paths = corpus
    empty = str(tmp_path / "empty.parquet")
    pq.write_table(table.slice(0, 0), empty)
    summary = dedup_partitions([paths[0], empty, *paths[1:]], tmp_path / "out", DedupConfig(), num_buckets=3)
    assert_same_as_in_memory(table, summary, DedupConfig())


def test_the_driver_gets_counts_only(corpus, tmp_path, monkeypatch):
    """Steps 2-4 are sharded end to end (issue 17): every task hands the driver counts and paths, never rows, so
    what the driver holds does not grow with the documents, the edges or the duplicates."""
    import pickle

    table, paths = corpus
    work = tmp_path / "work"
    sigs = []
    for p, path in enumerate(paths):
        parallel.signature_partition(path, p, 0, str(work), DedupConfig(), 4)
        sigs.append(parallel.sig_dir(str(work), p))
    sizes: dict[str, int] = {}
    real_run = parallel._run

    def run(client, fn, args_list):
        got = real_run(client, fn, args_list)
        sizes[fn.__name__] = max([sizes.get(fn.__name__, 0)] + [len(pickle.dumps(r)) for r in got])
        return got

    monkeypatch.setattr(parallel, "_run", run)
    res = parallel.assign_partitions(sigs, str(work), DedupConfig(), None, 4)
    assert res["dedup_exact"] + res["dedup_near_duplicate"] == N_EXACT + N_NEAR
    assert {"exact_split", "exact_bucket", "dead_set", "bucket_edges", "seed", "star_step", "label_ids",
            "representatives", "write_assignment"} <= set(sizes)
    # a few hundred bytes each (counts, a path, a hash, one count per partition), for 560 documents, 80 of them
    # duplicates with their 80 representatives
    assert max(sizes.values()) < 1024, sizes
