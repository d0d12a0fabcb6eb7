"""NOT PASSING YET (opt-in, see the skip reason): pdf -> web -> curate -> tokenize with every Dask worker under a hard
memory limit smaller than the corpus's text,
artifacts on the S3 stand-in (moto's server on loopback), equal to a run on local disk without the limit (issue 17).

The limit is RLIMIT_DATA: the kernel refuses any private writable mapping past it (malloc, Arrow's jemalloc, numpy,
a new thread's stack), so Python code gets MemoryError. A worker maps ~1.4 GB of address space once its libraries
have run (spaCy, language id, scikit-learn, Arrow and polars pools; mostly reserved, ~450 MB resident), so the same
two workers first run the pipeline on local disk without a limit (the reference; their bounded caches filled),
then cap their data segment at what they have mapped + HEADROOM, and run it again on the store. The corpus text is
larger than HEADROOM: only partitions, bounded by configuration, may be held at once. The same workers fail with
MemoryError when asked to hold the corpus as curation did before issue 17 (every partition's text in one process).

Found on the way (see benchmarks/results/corpus_scale.md): the per-process caches (spaCy chunk infos ~80 MB, filter
verdicts up to 64 M characters, silver-rule answers, SMILES candidates) are O(1) but larger than such a headroom, so
the workers get smaller bounds here; polars aborts the process (a Rust panic, not MemoryError) when it cannot start
a thread or allocate; MinHash held num_perm x (shingles of the longest document) uint64 (fixed: chunked).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.flows.memlimit_corpus import limit_worker, make_text_heavy_warcs, set_cache_bounds, vm_status

HEADROOM = 40 << 20  # bytes a limited worker may map beyond its warmed-up state
FILES, PAGES = 8, 120  # ~40 KB of main text per page: FILES * PAGES * 40 KB of text in all
PARTITION_DOCS = 20  # curation partitions (rows of one WARC's pages) and shard partitions (curated rows)
# Per-process caches are bounded by constants sized for a production worker (spaCy chunk infos ~80 MB, filter
# verdict memo up to 64 M characters, silver-rule answers and SMILES candidates): O(1) in the corpus, but larger than
# HEADROOM. Both runs use smaller bounds, below the corpus's size, so that the limited run (which starts with the
# reference's caches, as a long-lived worker would) evicts and recomputes as it goes; the caches are exact.
CACHE_BOUNDS = {"s1data.filters.text:CACHE_MAX_CHUNKS": 10_000, "s1data.filters.base:MEMO_MAX_ROWS": 200,
                "s1data.filters.base:MEMO_MAX_CHARS": 2 << 20, "s1data.science.silver:RULE_CACHE_MAX": 200,
                "s1data.science.silver:_CAND_CACHE_MAX": 20_000}
WORKER_ENV = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1",
              "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cluster(tmp: Path):
    from distributed import LocalCluster

    tmp.mkdir(parents=True, exist_ok=True)
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                        local_directory=str(tmp), env={**WORKER_ENV, "TMPDIR": str(tmp)})


def _run(home: Path, artifacts: str | None, address: str, shared: Path, warcs: Path) -> dict:
    from flows.curate import CurateConfig, CurateFlowParams, curate_flow
    from flows.pdf import PdfFlowParams, pdf_flow
    from flows.tokens import TokenizeFlowParams, tokenize_flow
    from flows.web import WebFlowParams, web_flow
    from s1data.pdf import PdfConfig
    from s1data.shards import ShardConfig
    from s1data.tokenizer import TokenizerConfig

    common = {"home": str(home), "artifacts": artifacts, "dask_address": address}
    out = {"pdf": pdf_flow(PdfFlowParams(**common, input=[str(shared / "pdf")],
                                         pdf=PdfConfig(high_cost_route="none"))),  # no time-budgeted OCR route
           "web": web_flow(WebFlowParams(**common, input=[str(warcs)]))}
    out["curate"] = curate_flow(CurateFlowParams(**common, curate=CurateConfig(partition_docs=PARTITION_DOCS)))
    tiny = TokenizerConfig(vocab_size=1024, smiles_vocab_size=300, protein_vocab_size=280, dna_vocab_size=270)
    out["tokenize"] = tokenize_flow(TokenizeFlowParams(**common, tokenizer=tiny,
                                                       shards=ShardConfig(seq_len=256, partition_docs=PARTITION_DOCS)))
    return out


def _table(home: Path, name: str, sort: list[str]) -> pa.Table:
    from s1data.parts import list_parquet
    from storage import open_storage

    _, m = open_storage(home, read_only=True)
    files = list_parquet(m.resolve_artifact(name)["uri"])
    t = pa.concat_tables([_read(f) for f in files], promote_options="permissive")
    return t.sort_by([(c, "ascending") for c in sort])


def _read(path: str) -> pa.Table:
    from s1data.parts import read_file

    return read_file(path)


def _shards(home: Path) -> list[pa.Table]:
    from flows.tokens import shard_paths
    from storage import open_storage

    _, m = open_storage(home, read_only=True)
    return [pq.read_table(p) for p in shard_paths(m.resolve_artifact("token_shards"))]


def _hold_all_text(files: list[str]) -> int:
    """Curation before issue 17: every partition's text in one process (concatenated, then walked as a list)."""
    from s1data.parts import read_file

    texts = pa.concat_tables([read_file(f, ["text"]) for f in files]).column("text").to_pylist()
    return sum(map(len, texts))


def _allocate(n: int) -> int:
    return len(bytearray(n))


def _limits() -> dict:
    import resource

    return {"rlimit_data": resource.getrlimit(resource.RLIMIT_DATA)[0], **vm_status()}


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not os.environ.get("S1_MEMLIMIT_TEST"), reason=(
    "opt-in (S1_MEMLIMIT_TEST=1): does not pass yet. The limited run fails with MemoryError in curation's first "
    "blocks at HEADROOM 24 MiB (26 MiB of text) and 40 MiB (44 MiB of text), and a worker that cannot allocate "
    "cannot report it (the test then waits for its timeout); see benchmarks/results/corpus_scale.md section 6"))
def test_pipeline_under_a_data_limit_smaller_than_the_corpus_on_s3_equals_local(tmp_path, shared_data,
                                                                              s3_artifacts):
    from distributed import Client

    from s1data.parts import list_parquet
    from storage import open_storage

    warcs = tmp_path / "warcs"
    text_bytes = make_text_heavy_warcs(shared_data, warcs, FILES, PAGES)
    assert text_bytes > HEADROOM, text_bytes
    home, local = tmp_path / "s3", tmp_path / "ref"

    with _cluster(tmp_path / "workers") as cluster, Client(cluster) as client:
        client.run(set_cache_bounds, CACHE_BOUNDS)
        # the reference: local disk, no limit; it also maps every import, model, thread pool and thread stack of
        # the workers' code paths and fills their bounded caches, so what the limit leaves is what the data may use
        ref = _run(local, None, cluster.scheduler_address, shared_data, warcs)
        limits = client.run(limit_worker, HEADROOM, s3_artifacts + "/touch")
        assert all(0 < v["limit_bytes"] <= v["VmData"] * 1024 + HEADROOM for v in limits.values()), limits
        got = _run(home, s3_artifacts, cluster.scheduler_address, shared_data, warcs)
        during = client.run(_limits)

        # the limit bites: the corpus's text held in one worker (curation before issue 17 concatenated every
        # partition), or one allocation of its size, fails there with MemoryError
        _, m = open_storage(home, read_only=True)
        pages = list_parquet(m.resolve_artifact("web_pages")["uri"])
        with pytest.raises(MemoryError):
            client.submit(_hold_all_text, pages, pure=False).result()
        with pytest.raises(MemoryError):
            client.submit(_allocate, text_bytes, pure=False).result()
        after = client.run(_limits)
    # the same worker processes ran the whole limited run and are still limited (none was replaced)
    assert set(after) == set(limits) and all(
        after[w]["rlimit_data"] == limits[w]["limit_bytes"] == during[w]["rlimit_data"] for w in limits), after
    print("memory-limited workers:", {w: {"limit_mib": limits[w]["limit_bytes"] >> 20,
                                          "vmdata_at_limit_mib": limits[w]["VmData"] >> 10,
                                          "vmdata_after_mib": during[w]["VmData"] >> 10} for w in limits},
          "corpus text MiB", text_bytes >> 20)

    # partitions were bounded: many curation and shard partitions
    assert got["curate"]["partitions"] >= FILES * PAGES // PARTITION_DOCS
    assert got["tokenize"]["token_shards"]["partitions"] > 1
    for stage in ("pdf", "web", "curate"):
        assert not got[stage].get("cached"), stage

    # the artifacts equal the local, unlimited run's
    assert got["web"]["pages"] == ref["web"]["pages"] == FILES * PAGES
    assert got["curate"]["kept"] == ref["curate"]["kept"] > FILES * PAGES // 2, ref["curate"]["exclusion_reasons"]
    assert got["curate"]["exclusion_reasons"] == ref["curate"]["exclusion_reasons"]
    for name, sort in (("documents", ["doc_id"]), ("web_pages", ["doc_id"]), ("curated", ["doc_id"]),
                       ("curation_exclusions", ["doc_id", "filter", "reason"]),
                       ("web_domain_decisions", ["domain"])):
        a, b = _table(home, name, sort), _table(local, name, sort)
        assert a.num_rows == b.num_rows > 0 and a.equals(b), name
    curated = _table(home, "curated", ["doc_id"])
    assert sum(len(t.encode()) for t in curated.column("text").to_pylist()) > HEADROOM  # kept text > the headroom
    sa, sb = _shards(home), _shards(local)
    assert len(sa) == len(sb) > 0 and all(x.equals(y) for x, y in zip(sa, sb))
    assert got["tokenize"]["token_shards"]["tokens"] == ref["tokenize"]["token_shards"]["tokens"] > 0
    _, m = open_storage(home, read_only=True)
    _, r = open_storage(local, read_only=True)
    for name in ("tokenizer", "token_shards", "web_pages"):
        a, b = m.resolve_artifact(name), r.resolve_artifact(name)
        assert a["uri"].startswith(s3_artifacts) and a["content_sha256"] == b["content_sha256"], name
