"""The PDF flow for real: Prefect API, a Dask LocalCluster, DuckDB, on the shared PDFs and generated ones."""

import json
import shutil
import threading
import time
from pathlib import Path

import duckdb
import polars as pl

from flows.pdf import PdfFlowParams, pdf_flow
from s1data.pdf import PdfConfig
from storage import Manifest, file_sha256, open_storage, read_dataset
from tests.pdfzoo import make_corpus, make_zoo


def _run(home, inputs, **kw):
    return pdf_flow(PdfFlowParams(home=str(home), input=[str(i) for i in inputs], n_workers=2, **kw))


def _pages(home, version=None) -> pl.DataFrame:
    _, m = open_storage(home)
    a = m.resolve_artifact("pdf_pages" if version is None else f"pdf_pages:{version}")
    return pl.from_arrow(read_dataset(a["uri"], "pages-"))  # part files, concatenated in name order


def test_shared_pdfs_become_page_and_document_artifacts_and_a_second_run_is_all_cache(home, shared_data):
    first = _run(home, [shared_data / "pdf"])
    assert (first["files"], first["pages"], first["documents"], first["quarantined"]) == (4, 12, 4, 0)
    # the 3 display-maths pages of 1001._0908.0054.pdf (benchmarks/labels/pdf_display_math.json) and the scanned
    # page of two_pages.pdf
    assert first["routes"] == {"cheap": 8, "local": 4}

    pages = _pages(home)
    assert pages.height == 12 and pages.select("source_sha256", "page_no").is_unique().all()
    assert sorted(pages["page_no"].to_list())[:4] == [1, 1, 1, 1]

    second = _run(home, [shared_data / "pdf"])
    assert second["cached"] is True and second["pages"] == 12
    _, m = open_storage(home)
    rows = m.query("SELECT stage, status, count(*) AS n FROM stage_runs WHERE run_id = ? GROUP BY ALL ORDER BY ALL",
                   [second["run_id"]])
    assert rows == [{"stage": "pdf", "status": "cached", "n": 1},
                    {"stage": "pdf.partition", "status": "cached", "n": 4}]
    assert m.query("SELECT count(*) AS n FROM artifacts WHERE name = 'pdf_pages'")[0]["n"] == 1

    # the dashboard's PDF mining figure reads the meta this real run committed
    from dashboards.figures import pdf_counts

    fig = pdf_counts([m.resolve_artifact("pdf_pages")])
    assert dict(zip(fig["data"][0]["y"], fig["data"][0]["x"])) == {
        "PDF files": 4, "files parsed": 4, "pages": 12, "pages after dedup": 12, "documents": 4}


def test_adding_one_pdf_redoes_only_that_files_partition(home, tmp_path, shared_data):
    inputs = tmp_path / "in"
    shutil.copytree(shared_data / "pdf", inputs)
    _run(home, [inputs])
    make_corpus(inputs, 1, pages=3, prefix="new")
    again = _run(home, [inputs])
    assert (again["cached_partitions"], again["mined_partitions"], again["pages"]) == (4, 1, 15)
    assert _pages(home)["source_uri"].str.contains("new_000").sum() == 3
    assert _pages(home, 1).height == 12  # version 1 is untouched


def test_bad_inputs_are_quarantined_with_reasons_and_the_run_completes(home, tmp_path, shared_pdfs):
    zoo = make_zoo(tmp_path / "zoo", shared_pdfs[0])
    out = _run(home, [tmp_path / "zoo"])
    assert out["pages"] == 2 and out["quarantined"] == 5
    _, m = open_storage(home)
    reasons = {Path(r["source_uri"]).name: r["reason"] for r in m.query("SELECT * FROM quarantine")}
    assert reasons == {"encrypted.pdf": "pdf_encrypted", "empty.pdf": "pdf_empty",
                       "zero_pages.pdf": "pdf_zero_pages", "not_a_pdf.pdf": "pdf_not_a_pdf",
                       "truncated.pdf": "pdf_truncated"}
    assert zoo["good"].exists()


def test_global_page_dedup_marks_repeated_boilerplate_pages_across_files(home, tmp_path):
    from s1data.samples import write_sample_pdf

    d = tmp_path / "dup"
    write_sample_pdf(d / "a.pdf", "Copyright notice", "All rights reserved by the publisher. ", pages=1)
    write_sample_pdf(d / "b.pdf", "Copyright notice", "All rights reserved by the publisher. ", pages=1)
    (d / "b.pdf").write_bytes((d / "b.pdf").read_bytes() + b"\n%different bytes, same page text\n")
    out = _run(home, [d])
    assert out["pages"] == 2 and out["duplicate_pages"] == 1 and out["documents"] == 1
    _, m = open_storage(home)
    excl = pl.from_arrow(read_dataset(m.resolve_artifact("pdf_pages")["uri"], "exclusions-"))
    assert excl["reason"].to_list() == ["pdf_page_duplicate"]


def test_the_vlm_route_sends_page_images_to_an_openai_compatible_endpoint(home, shared_data, tmp_path):
    from s1data.pdf import vlm_standin

    server, url = vlm_standin.start()
    try:
        d = tmp_path / "scan"
        d.mkdir()
        shutil.copy(shared_data / "pdf" / "two_pages.pdf", d)
        out = _run(home, [d], pdf=PdfConfig(high_cost_route="vlm", vlm_url=url))
    finally:
        server.shutdown()
    assert out["routes"] == {"cheap": 1, "vlm": 1}
    page1 = _pages(home).filter(pl.col("page_no") == 1)
    assert page1["text"][0].startswith("[vlm-standin]")


def test_a_killed_dask_worker_is_replaced_and_the_artifacts_equal_an_uninterrupted_run(tmp_path):
    from distributed import Client, LocalCluster

    corpus = make_corpus(tmp_path / "corpus", 8, pages=60)
    ref_home, home = tmp_path / "ref", tmp_path / "killed"
    cfg = PdfConfig(files_per_task=1)
    _run(ref_home, [tmp_path / "corpus"], pdf=cfg)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        killed = []

        def killer():
            m = Manifest(open_storage(home)[0].manifest_path, read_only=True, lock_timeout_s=30)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    n = m.query("SELECT count(*) AS n FROM artifacts WHERE name = 'pdf_partition'")[0]["n"]
                except Exception:
                    n = 0
                if n >= 1:
                    pids = client.run(lambda: __import__("os").getpid())
                    import os
                    import signal

                    os.kill(next(iter(pids.values())), signal.SIGKILL)
                    killed.append(n)
                    return
                time.sleep(0.05)

        open_storage(home)  # create the manifest before the killer polls it
        t = threading.Thread(target=killer)
        t.start()
        out = pdf_flow(PdfFlowParams(home=str(home), input=[str(tmp_path / "corpus")], pdf=cfg,
                                     dask_address=cluster.scheduler_address))
        t.join()
    assert killed and out["pages"] == 8 * 60 and out["transient_failures"] == 0
    assert _pages(home).equals(_pages(ref_home))


def test_lineage_reaches_the_source_pdfs_with_their_sha256_from_python_and_plain_sql(home, shared_data):
    _run(home, [shared_data / "pdf"])
    root, m = open_storage(home)
    docs = m.resolve_artifact("documents")
    sources = {a["uri"]: a["content_sha256"] for a in m.ancestors(docs["artifact_id"]) if a["kind"] == "source"}
    assert sources == {str(p.resolve()): file_sha256(p) for p in (shared_data / "pdf").glob("*.pdf")}
    con = duckdb.connect(str(root.manifest_path), read_only=True)
    sql = ("SELECT a.uri, a.content_sha256 FROM lineage l JOIN artifacts a ON a.artifact_id = l.ancestor_id "
           "WHERE l.artifact_id = ? AND a.kind = 'source'")
    assert dict(con.execute(sql, [docs["artifact_id"]]).fetchall()) == sources
    con.close()


def test_the_stage_publishes_a_markdown_summary_and_a_quarantine_table_in_prefect(home, tmp_path, shared_pdfs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    make_zoo(tmp_path / "zoo", shared_pdfs[0])
    out = _run(home, [tmp_path / "zoo"])
    with get_client(sync_client=True) as client:  # the session's Prefect API holds other tests' runs too
        md = [a for a in client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["s1-pdf"])))
              if out["run_id"] in a.data]
        table = [a for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["s1-pdf-quarantine"])))
            if md and a.flow_run_id == md[0].flow_run_id]
    assert len(md) == 1 and "pdf_pages:" in md[0].data and "s1 lineage" in md[0].data
    assert "pdf_encrypted" in md[0].data and len(table) == 1
    reasons = sorted(r["reason"] for r in json.loads(table[0].data)) if isinstance(table[0].data, str) \
        else sorted(r["reason"] for r in table[0].data)
    assert reasons == ["pdf_empty", "pdf_encrypted", "pdf_not_a_pdf", "pdf_truncated", "pdf_zero_pages"]
