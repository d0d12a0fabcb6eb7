"""pdf -> web -> curate -> tokenize with every Dask worker under a hard memory limit smaller than the corpus's text,
artifacts on the S3 stand-in (moto's server on loopback), equal to a run on local disk without the limit (issue 17).

The limit is RLIMIT_DATA: the kernel refuses any private writable mapping past it (malloc, Arrow's allocator,
numpy, a new thread's stack), so Python code gets MemoryError. A worker maps ~1.3 GB of address space once its
libraries have run (spaCy, language id, scikit-learn, Arrow pools; mostly reserved, ~330 MB resident), so the
limit is "what it has mapped + HEADROOM", set after a warm-up: the same two workers first run the pipeline on local
disk without a limit (the reference the limited run must equal; it also fills the per-process caches, bounded by
`S1_CACHE_MB`), then once more on the same WARC files on the store under another home and prefix (the S3 client,
its pools, reads and uploads of partition files, server-side copies; the caches at their working size for this
corpus, the shard writer's tokenizer found again by content), then cap their data segment and run the pipeline
on the store. The corpus's text is larger than HEADROOM, and the same workers fail with MemoryError when asked to
hold it as curation did before issue 17 (every partition's text in one process), or to allocate it at once: only
partitions may be held.

A worker that cannot allocate may not be able to send its error; the limited run is watched (a deadline from the
reference's wall time) and a failure names the block each worker was running (`TaskMemoryLog`). The per-block
VmData growth of the limited run is printed (`-s`); benchmarks/results/corpus_scale.md section 6 has the history.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.flows.memlimit_corpus import (TaskMemoryLog, clear_task_records, growth_by_block, growth_in_logs,
                                         last_blocks, limit_worker, log_sizes, make_text_heavy_warcs,
                                         small_thread_stacks, task_records, vm_status)

# bytes a limited worker may map beyond its warmed-up state. 24 MiB (27 MiB corpus, warm-up on other WARCs) failed
# 3 runs of 3 on 2026-12-06 and 32 MiB (37 MiB corpus) once: the limited run grew a worker by 18-32 MiB, bounded
# caches refilling with new content (sample_block +6..12 MiB; a new tokenizer's word cache +7..14 MiB)
HEADROOM = 32 << 20
FILES, PAGES = 10, 110  # ~45 KB of main text per page written, ~30 KB extracted: ~34 MiB of page text
PARTITION_DOCS = 20  # curation partitions (rows of one WARC's pages) and shard partitions (curated rows)
# S1_CACHE_MB of the workers: the per-process caches' budget (the default, 256). At 32 they thrash on this corpus
# (pass 1 ~8x slower: spaCy re-creates every lexeme after a reload); at 128 (28 MiB corpus) the limited run grew a
# worker by 20 MiB (cache churn in pass 1, a third tokenizer), ~11 MiB at 256
CACHE_MB = 256
WORKER_ENV = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1",
              "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "S1_CACHE_MB": str(CACHE_MB)}


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
    # the tokenizer is trained in the flow process on a bounded sample (2 M characters: the test's speed)
    tiny = TokenizerConfig(vocab_size=1024, smiles_vocab_size=300, protein_vocab_size=280, dna_vocab_size=270,
                           max_training_chars=2_000_000)
    out["tokenize"] = tokenize_flow(TokenizeFlowParams(**common, tokenizer=tiny,
                                                       shards=ShardConfig(seq_len=256, partition_docs=PARTITION_DOCS)))
    return out


def _watched(fn, deadline_s: float, log_dir: Path, limits: dict):
    """fn() in a thread; fails the test with the block each worker ran last if it raises or passes the deadline
    (a worker that cannot allocate may not be able to report its MemoryError)."""
    box: dict = {}

    def target():
        try:
            box["out"] = fn()
        except BaseException as e:  # noqa: BLE001 (handed to the test thread)
            box["err"] = e

    since = log_sizes(str(log_dir))
    t = threading.Thread(target=target, name="limited-run", daemon=True)
    t.start()
    t.join(deadline_s)
    if t.is_alive():
        pytest.fail(f"the memory-limited run did not finish in {deadline_s:.0f} s; each worker's last task "
                    f"(start|end block [state] VmData KiB: start, peak, end): {last_blocks(str(log_dir))}; "
                    f"limits (bytes, VmData KiB when set): {limits}; VmData growth per block (KiB): "
                    f"{growth_in_logs(str(log_dir), since)}")
    if "err" in box:
        raise AssertionError(f"the memory-limited run failed: {type(box['err']).__name__}: {box['err']}; each "
                             f"worker's last task (VmData KiB: start, peak, end): {last_blocks(str(log_dir))}; "
                             f"limits (bytes, VmData KiB when set): {limits}; VmData growth per block (KiB): "
                             f"{growth_in_logs(str(log_dir), since)}") from box["err"]
    return box["out"]


def _table(home: Path, name: str, sort: list[str]) -> pa.Table:
    from s1data.parts import list_parquet, read_file
    from storage import open_storage

    _, m = open_storage(home, read_only=True)
    files = list_parquet(m.resolve_artifact(name)["uri"])
    t = pa.concat_tables([read_file(f) for f in files], promote_options="permissive")
    return t.sort_by([(c, "ascending") for c in sort])


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


def _has_polars() -> bool:
    import sys

    return "polars" in sys.modules


def _limits() -> dict:
    import resource

    return {"rlimit_data": resource.getrlimit(resource.RLIMIT_DATA)[0], **vm_status()}


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_pipeline_under_a_data_limit_smaller_than_the_corpus_on_s3_equals_local(tmp_path, shared_data,
                                                                              s3_artifacts):
    from distributed import Client

    from s1data.parts import list_parquet
    from storage import open_storage

    warcs = tmp_path / "warcs"
    text_bytes = make_text_heavy_warcs(shared_data, warcs, FILES, PAGES)
    assert text_bytes > HEADROOM, text_bytes
    home, local, log_dir = tmp_path / "s3", tmp_path / "ref", tmp_path / "task-log"
    log_dir.mkdir()

    with _cluster(tmp_path / "workers") as cluster, Client(cluster) as client:
        client.register_plugin(TaskMemoryLog(str(log_dir)))
        client.run(small_thread_stacks)
        address = cluster.scheduler_address
        # the reference: local disk, no limit; it also maps every import, model, thread pool and thread stack of
        # the workers' code paths and fills their bounded caches
        t0 = time.perf_counter()
        ref = _run(local, None, address, shared_data, warcs)
        ref_s = time.perf_counter() - t0
        # the store's code paths (S3 client, connection pool, event-loop thread, reads and uploads of partition
        # files of the same sizes, server-side copies) on the same WARC files under another home and prefix: the
        # workers' bounded caches (filters, spaCy, the shard writer's tokenizer and its word cache, found by content)
        # are then at their working size for this corpus, and the limited run measures what it holds beyond them
        _run(tmp_path / "warm", s3_artifacts + "-warm", address, shared_data, warcs)
        client.run(clear_task_records)
        limits = client.run(limit_worker, HEADROOM)
        assert all(0 < v["limit_bytes"] <= v["VmData"] * 1024 + HEADROOM for v in limits.values()), limits
        t0 = time.perf_counter()
        got = _watched(lambda: _run(home, s3_artifacts, address, shared_data, warcs), max(180.0, 3 * ref_s),
                       log_dir, limits)
        got_s = time.perf_counter() - t0
        during = client.run(_limits)
        growth = {w: growth_by_block(r) for w, r in client.run(task_records).items()}

        # the limit bites: the corpus's text held in one worker (curation before issue 17 concatenated every
        # partition), or one allocation of its size, fails there with MemoryError
        _, m = open_storage(home, read_only=True)
        pages = list_parquet(m.resolve_artifact("web_pages")["uri"])
        with pytest.raises(MemoryError):
            client.submit(_hold_all_text, pages, pure=False).result()
        with pytest.raises(MemoryError):
            client.submit(_allocate, text_bytes, pure=False).result()
        after = client.run(_limits)
        # polars (it aborts the process where Python raises MemoryError) is never loaded in a worker
        assert not any(client.run(_has_polars).values())
    # the same worker processes ran the whole limited run and are still limited (none was replaced)
    assert set(after) == set(limits) and all(
        after[w]["rlimit_data"] == limits[w]["limit_bytes"] == during[w]["rlimit_data"] for w in limits), after
    print(f"\ncorpus text {text_bytes / 2**20:.1f} MiB, headroom {HEADROOM >> 20} MiB, S1_CACHE_MB {CACHE_MB}; "
          f"reference {ref_s:.0f} s, limited {got_s:.0f} s")
    for w in limits:
        print(w, f"VmData at the limit {limits[w]['VmData'] >> 10} MiB, after the limited run "
                 f"{during[w]['VmData'] >> 10} MiB (+{(during[w]['VmData'] - limits[w]['VmData']) >> 10}); "
                 "per block (tasks, VmData growth KiB, largest peak over a task's start KiB, s):",
              {b: (g["tasks"], g["growth_kib"], g["max_peak_over_start_kib"], g["seconds"])
               for b, g in growth[w].items()})

    # partitions were bounded: many curation and shard partitions
    assert got["curate"]["partitions"] >= FILES * PAGES // PARTITION_DOCS
    assert got["tokenize"]["token_shards"]["partitions"] > 1
    for stage in ("pdf", "web", "curate"):
        assert not got[stage].get("cached"), stage

    # the artifacts equal the local, unlimited run's
    assert got["web"]["pages"] == ref["web"]["pages"] >= FILES * PAGES * 9 // 10  # a few pages extract no text
    assert got["curate"]["kept"] == ref["curate"]["kept"] > FILES * PAGES // 2, ref["curate"]["exclusion_reasons"]
    assert got["curate"]["exclusion_reasons"] == ref["curate"]["exclusion_reasons"]
    for name, sort in (("documents", ["doc_id"]), ("web_pages", ["doc_id"]), ("curated", ["doc_id"]),
                       ("curation_exclusions", ["doc_id", "filter", "reason"]),
                       ("web_domain_decisions", ["domain"])):
        a, b = _table(home, name, sort), _table(local, name, sort)
        assert a.num_rows == b.num_rows > 0 and a.equals(b), name
    # the text the limited workers curated (web_pages, as extracted) is larger than the headroom; the curated text is
    # smaller (duplicated sentences, trimmed pages) and printed
    pages_text = _table(home, "web_pages", ["doc_id"]).column("text").to_pylist()
    curated_text = _table(home, "curated", ["doc_id"]).column("text").to_pylist()
    assert sum(len((t or "").encode()) for t in pages_text) > HEADROOM
    print(f"web_pages text {sum(len((t or '').encode()) for t in pages_text) / 2**20:.1f} MiB, curated text "
          f"{sum(len(t.encode()) for t in curated_text) / 2**20:.1f} MiB")
    sa, sb = _shards(home), _shards(local)
    assert len(sa) == len(sb) > 0 and all(x.equals(y) for x, y in zip(sa, sb))
    assert got["tokenize"]["token_shards"]["tokens"] == ref["tokenize"]["token_shards"]["tokens"] > 0
    _, m = open_storage(home, read_only=True)
    _, r = open_storage(local, read_only=True)
    for name in ("tokenizer", "token_shards", "web_pages"):
        a, b = m.resolve_artifact(name), r.resolve_artifact(name)
        assert a["uri"].startswith(s3_artifacts) and a["content_sha256"] == b["content_sha256"], name
