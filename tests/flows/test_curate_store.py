"""Curation with its artifacts on an object store (a moto S3 server on loopback, the stand-in for S3 / MinIO / GCS)
and its blocks on a Dask cluster of worker processes in their own folders: the same curated rows, scores and
exclusion reasons as a run on local disk in this process, and nothing written to the flow's disk."""

import os

import pyarrow as pa

from s1data.parts import list_parquet
from storage import is_remote, open_storage, tree_sha256


def _table(uri: str) -> pa.Table:
    import pyarrow.parquet as pq

    from s1data.parts import filesystem

    tables = []
    for p in list_parquet(uri):
        fs, path = filesystem(p)
        with fs.open(path, "rb") as f:
            tables.append(pq.read_table(f))
    return pa.concat_tables(tables, promote_options="permissive")


def _rows(m, name: str, cols: list[str]) -> list[tuple]:
    t = _table(m.resolve_artifact(name)["uri"])
    return sorted(zip(*(t.column(c).to_pylist() for c in cols)))


def test_curation_on_s3_with_outside_workers_equals_a_local_in_process_run(tmp_path, shared_data, s3_artifacts):
    from distributed import Client, LocalCluster

    from flows.curate import CurateConfig, CurateFlowParams, curate_flow
    from flows.pdf import PdfFlowParams, pdf_flow
    from flows.web import WebFlowParams, web_flow

    wdir = tmp_path / "workers"
    wdir.mkdir()
    home, ref = tmp_path / "home", tmp_path / "ref"
    # partitions of 2 documents: the 9 web pages and 4 PDFs become several Dask tasks per pass
    small = CurateConfig(partition_docs=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(wdir), env={"TMPDIR": str(wdir)}) as cluster, Client(cluster) as client:
        client.run(os.chdir, str(wdir))
        address = cluster.scheduler_address
        web_flow(WebFlowParams(home=str(home), artifacts=s3_artifacts, input=[str(shared_data / "warc")],
                               dask_address=address))
        pdf_flow(PdfFlowParams(home=str(home), artifacts=s3_artifacts, input=[str(shared_data / "pdf")],
                               dask_address=address))
        out = curate_flow(CurateFlowParams(home=str(home), artifacts=s3_artifacts, curate=small,
                                           dask_address=address))
    assert out["partitions"] >= 5
    files = [p for p in home.rglob("*") if p.is_file() and not p.name.startswith("manifest.duckdb")
             and "prefect" not in p.relative_to(home).parts]
    assert files == []  # filtered partitions, dedup work files and outputs all went to the store
    assert [p for p in wdir.rglob("*.parquet")] == []

    web_flow(WebFlowParams(home=str(ref), input=[str(shared_data / "warc")], n_workers=1))
    pdf_flow(PdfFlowParams(home=str(ref), input=[str(shared_data / "pdf")], n_workers=1))
    want = curate_flow(CurateFlowParams(home=str(ref)))

    _, m = open_storage(home, read_only=True)
    _, r = open_storage(ref, read_only=True)
    for name in ("curated", "curation_exclusions", "web_domain_decisions"):
        a = m.resolve_artifact(name)
        assert is_remote(a["uri"]) and a["uri"].startswith(s3_artifacts) and tree_sha256(a["uri"]) == a["content_sha256"]
    assert _rows(m, "curated", ["doc_id", "domain", "science_score", "cluster_id"]) == \
        _rows(r, "curated", ["doc_id", "domain", "science_score", "cluster_id"])
    assert _rows(m, "curation_exclusions", ["doc_id", "filter", "reason"]) == \
        _rows(r, "curation_exclusions", ["doc_id", "filter", "reason"])
    assert out["exclusion_reasons"] == want["exclusion_reasons"] and out["kept"] == want["kept"] > 0
