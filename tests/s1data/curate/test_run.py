"""curate_corpus on real text: partitioning and the engine change nothing; bounded samples give the global decisions.

Corpus: real paragraphs of ../shared/data/science-dev (science and not) as PDF documents, real article texts of
../shared/data/extraction-dev as web pages of their real URL domains, plus planted exact and near copies.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s1data.curate import CurateConfig, curate_corpus, input_files
from s1data import parts
from s1data.curate import blocks

N_DOCS, N_EXACT, N_NEAR = 360, 12, 24


def _real_texts(shared: Path, n: int) -> list[str]:
    out = []
    with gzip.open(shared / "science-dev" / "docs.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            if i % 50 == 0:  # every 50th: all labels and sources
                out.append(json.loads(line)["text"])
            if len(out) == n:
                break
    return out


def _ids(n: int) -> list[str]:
    return [hashlib.sha256(f"{i}".encode()).hexdigest()[:16] for i in range(n)]


def _corpus(shared: Path, root: Path) -> dict[str, str]:
    texts = _real_texts(shared, N_DOCS)
    for j in range(N_EXACT):
        texts.append(texts[j * 7])
    for j in range(N_NEAR):
        w = texts[j * 11 + 3].split(" ")
        w[len(w) // 2] = "zebra"
        texts.append(" ".join(w))
    ids = _ids(len(texts))
    docs = pa.table({"doc_id": ids, "source_uri": [f"/papers/{i}.pdf" for i in ids], "source_sha256": ids,
                     "source_kind": ["pdf"] * len(ids), "text": texts})
    gt = json.loads((shared / "extraction-dev" / "ground-truth.json").read_text())
    web_ids = sorted(gt)
    from urllib.parse import urlsplit

    pages = pa.table({"doc_id": [f"w{k[:15]}" for k in web_ids], "source_uri": [gt[k]["url"] for k in web_ids],
                      "source_sha256": web_ids, "source_kind": ["web"] * len(web_ids),
                      "text": [gt[k]["articleBody"] for k in web_ids],
                      "domain": [urlsplit(gt[k]["url"]).hostname or "" for k in web_ids]})
    (root / "documents").mkdir(parents=True)
    (root / "web_pages").mkdir(parents=True)
    pq.write_table(docs, root / "documents" / "documents.parquet", row_group_size=64)
    pq.write_table(pages, root / "web_pages" / "pages.parquet", row_group_size=64)
    return {"documents": str(root / "documents"), "web_pages": str(root / "web_pages")}


def _run(inputs: dict, out_root: Path, cfg: CurateConfig, client=None) -> tuple[dict, pa.Table, pa.Table]:
    out = {k: str(out_root / k) for k in ("curated", "curation_exclusions", "web_domain_decisions")}
    funnel = curate_corpus(input_files(inputs), out, str(out_root / "scratch"), cfg, client=client)
    curated = pa.concat_tables(pq.read_table(p) for p in parts.list_parquet(out["curated"]))
    excl = pa.concat_tables(pq.read_table(p) for p in parts.list_parquet(out["curation_exclusions"]))
    return funnel, curated, excl


def _key(funnel: dict, curated: pa.Table, excl: pa.Table):
    c = sorted(zip(curated.column("doc_id").to_pylist(), curated.column("domain").to_pylist(),
                   [round(x, 5) for x in curated.column("science_score").to_pylist()]))
    e = sorted(zip(excl.column("doc_id").to_pylist(), excl.column("reason").to_pylist()))
    return funnel["exclusion_reasons"], funnel["domains"], c, e


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory) -> dict:
    return _corpus(shared_data, tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def one_partition(corpus, tmp_path_factory):
    return _run(corpus, tmp_path_factory.mktemp("one"), CurateConfig(partition_docs=100_000))


def test_planted_copies_are_excluded_with_their_reasons(one_partition):
    funnel, curated, excl = one_partition
    assert funnel["input"] == N_DOCS + N_EXACT + N_NEAR + 181
    assert funnel["kept"] == curated.num_rows
    reason = {d: None for d in curated.column("doc_id").to_pylist()}
    for d, f, r in zip(*(excl.column(c).to_pylist() for c in ("doc_id", "filter", "reason"))):
        if f != "rewrite":
            assert d not in reason, f"{d} both kept and excluded"
            reason[d] = r
    ids = _ids(N_DOCS + N_EXACT + N_NEAR)
    # an exact copy meets the same quality rules as its original: both dropped for one reason, or one is dedup_exact
    for j in range(N_EXACT):
        pair = {reason[ids[j * 7]], reason[ids[N_DOCS + j]]}
        assert pair == {None, "dedup_exact"} or (len(pair) == 1 and None not in pair), pair
    both_passed = [j for j in range(N_NEAR) if {reason[ids[j * 11 + 3]], reason[ids[N_DOCS + N_EXACT + j]]}
                   <= {None, "dedup_near_duplicate", "dedup_exact"}]
    found = [j for j in both_passed if {reason[ids[j * 11 + 3]], reason[ids[N_DOCS + N_EXACT + j]]}
             == {None, "dedup_near_duplicate"}]
    assert len(both_passed) >= N_NEAR // 4 and len(found) >= 0.9 * len(both_passed), (both_passed, found)
    from s1data.filters.curate import CurationConfig, build_filters

    blocks_run = {"domain", "rewrite", "dedup"} | {b.name for b in build_filters(CurationConfig())}
    assert set(excl.column("filter").to_pylist()) <= blocks_run
    assert all(excl.column("reason").to_pylist())


def test_partitioning_and_the_dask_engine_do_not_change_the_result(corpus, one_partition, tmp_path):
    from distributed import Client, LocalCluster

    small = _run(corpus, tmp_path / "many", CurateConfig(partition_docs=100))
    assert small[0]["partitions"] > one_partition[0]["partitions"] >= 2
    assert _key(*small) == _key(*one_partition)
    from distributed import Future

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        sent = []  # (task, its arguments' types): what every task's spec carries to the scheduler
        submit = client.submit
        client.submit = lambda fn, *args, **kw: sent.append((fn.__name__, [type(a) for a in args])) or \
            submit(fn, *args, **kw)
        dask = _run(corpus, tmp_path / "dask", CurateConfig(partition_docs=100), client=client)
    assert _key(*dask) == _key(*one_partition)
    # the domain decisions (and the classifier, when one is trained) go to the workers once, scattered: each filter
    # and label task carries a future, never its own pickled copy (32 copies of a 31 MB classifier: 1.1 GiB)
    filters = [types for name, types in sent if name == "filter_block"]
    labels = [types for name, types in sent if name == "label_block"]
    assert filters and labels
    assert all(types[1] is Future for types in filters)
    assert all(types[2] in (Future, type(None)) for types in labels)


def test_domain_decisions_from_partition_samples_equal_decisions_over_the_whole_table(corpus):
    from s1data.web.domains import domain_decisions

    cfg = CurateConfig(partition_docs=40)
    cfg.domains.max_pages_per_domain = 2
    plan = [p for p in parts.plan(input_files(corpus), cfg.partition_docs) if p["source"] == "web_pages"]
    assert len(plan) > 3
    recs = [blocks.sample_partition(p, cfg) for p in plan]
    counts = Counter()
    for r in recs:
        counts.update(r["domain_counts"])
    got = blocks.decide_domains([r["sample"] for r in recs], counts, cfg)
    whole = pq.read_table(Path(corpus["web_pages"]) / "pages.parquet")
    want = domain_decisions(whole, cfg.domains)
    assert got.to_pylist() == want.to_pylist()


def test_the_driver_folds_domain_samples_and_reads_them_without_text_with_the_same_decisions(corpus, tmp_path,
                                                                                            monkeypatch):
    """At 320 partitions of 64 MB the samples' text passed 2 GiB in the driver (ArrowInvalid: offset overflow).
    The driver now reads ids, domains and verdicts only, and folds to the bottom k as samples arrive."""
    cfg = CurateConfig(partition_docs=40)
    cfg.domains.max_pages_per_domain = 2
    plan = [p for p in parts.plan(input_files(corpus), cfg.partition_docs) if p["source"] == "web_pages"]
    recs = [blocks.sample_partition(p, cfg) for p in plan]
    counts = Counter()
    for r in recs:
        counts.update(r["domain_counts"])
    want = blocks.decide_domains([r["sample"] for r in recs], counts, cfg)
    paths = []
    for i, r in enumerate(recs):
        paths.append(str(tmp_path / f"sample-{i}.parquet"))
        pq.write_table(r["sample"], paths[-1])
    pq.write_table(blocks.empty_exclusions(), str(tmp_path / "empty.parquet"))  # a partition with nothing sampled
    assert blocks.read_domain_sample(str(tmp_path / "empty.parquet")) is None
    read = [blocks.read_domain_sample(p) for p in paths]
    assert all("text" not in t.column_names for t in read)
    monkeypatch.setattr(blocks, "DECIDE_FOLD_ROWS", 3)  # fold after every sample or two
    got = blocks.decide_domains(iter(read + [None]), counts, cfg)
    assert got.to_pylist() == want.to_pylist() and got.num_rows > 1


def test_science_sample_from_doc_ids_is_bottom_k_of_the_pooled_samples_with_their_silver_labels(shared_data,
                                                                                                tmp_path):
    """The classifier's sample is found from the partitions' doc ids (bounded keys in the driver) and labelled per
    partition: the same rows in the same order as bottom_k over the concatenated samples, the same silver labels."""
    from s1data.curate.run import science_sample
    from s1data.science.label import silver_labels

    texts = _real_texts(shared_data, 90)
    ids = _ids(90)
    filtered = []
    for p, (a, b) in enumerate([(0, 40), (40, 40), (40, 75), (75, 90)]):  # one partition contributes nothing
        folder = tmp_path / f"f{p}"
        folder.mkdir()
        pq.write_table(pa.table({"doc_id": ids[a:b], "text": texts[a:b]}, schema=pa.schema(
            [("doc_id", pa.string()), ("text", pa.string())])), folder / "science_sample.parquet")
        filtered.append({"uri": str(folder), "meta": {}, "worker": None})
    cfg = CurateConfig(science_sample_docs=100)
    for k in (30, 100):
        cfg = cfg.model_copy(update={"science_sample_docs": k})
        got = science_sample(None, filtered, cfg)
        pooled = pa.concat_tables([pq.read_table(Path(f["uri"]) / "science_sample.parquet") for f in filtered])
        want = blocks.bottom_k(pooled, k, cfg.science.seed)
        assert got.select(["doc_id", "text"]).equals(want)
        assert got.num_rows == min(k, 90)
        labels, confs = silver_labels(want.column("text").to_pylist(), cfg.science.silver)
        assert got.column("silver_label").to_pylist() == labels
        assert got.column("silver_confidence").to_pylist() == confs
