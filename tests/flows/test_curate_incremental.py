"""Curation is cached per partition: a corpus that grew by one WARC computes only the new file's partitions (its
domain sample, filters and dedup signatures), and the result equals curating the grown corpus from scratch."""

import io

import pyarrow as pa

from s1data.parts import list_parquet
from storage import open_storage


def _warc(path, pages: list[tuple[str, bytes]]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for url, html in pages:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(html),
                                                      http_headers=headers))
    path.write_bytes(buf.getvalue())


def _rows(home, name: str, cols: list[str]) -> list[tuple]:
    import pyarrow.parquet as pq

    _, m = open_storage(home, read_only=True)
    t = pa.concat_tables([pq.read_table(p) for p in list_parquet(m.resolve_artifact(name)["uri"])],
                         promote_options="permissive")
    return sorted(zip(*(t.column(c).to_pylist() for c in cols)))


def test_adding_one_warc_recomputes_only_its_partitions_and_equals_a_fresh_run(tmp_path, shared_data):
    from flows.curate import CurateFlowParams, curate_flow
    from flows.web import WebFlowParams, web_flow

    import gzip

    pages = sorted((shared_data / "extraction-dev" / "html").glob("*.html.gz"))[:24]  # real English articles
    assert len(pages) == 24
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    # three crawls of 8 real pages each, each from its own site (URL domain), one file per crawl
    for j, name in enumerate("abc"):
        _warc(crawl / f"{name}.warc.gz", [(f"https://site-{name}.example/{p.name[:-8]}", gzip.decompress(p.read_bytes()))
                                          for p in pages[8 * j:8 * j + 8]])
    grown = tmp_path / "grown"
    grown.mkdir()
    (grown / "c.warc.gz").write_bytes((crawl / "c.warc.gz").read_bytes())
    (crawl / "c.warc.gz").rename(tmp_path / "c.warc.gz")

    home, ref = str(tmp_path / "home"), str(tmp_path / "ref")
    web_flow(WebFlowParams(home=home, input=[str(crawl)], n_workers=1))
    first = curate_flow(CurateFlowParams(home=home, n_workers=1))
    assert first["partitions"] == 2 and first["computed_partitions"]["filters"] == 2

    web_flow(WebFlowParams(home=home, input=[str(crawl), str(grown)], n_workers=1))
    second = curate_flow(CurateFlowParams(home=home, n_workers=1))
    assert not second["cached"] and second["partitions"] == 3
    computed = second["computed_partitions"]
    assert (computed["domain_samples"], computed["filters"], computed["signatures"]) == (1, 1, 1)

    again = curate_flow(CurateFlowParams(home=home, n_workers=1))
    assert again["cached"]

    web_flow(WebFlowParams(home=ref, input=[str(crawl), str(grown)], n_workers=1))
    want = curate_flow(CurateFlowParams(home=ref, n_workers=1))
    assert second["kept"] == want["kept"] > 0, want["exclusion_reasons"]
    assert second["exclusion_reasons"] == want["exclusion_reasons"]
    assert _rows(home, "curated", ["doc_id", "domain", "science_score", "cluster_id"]) == \
        _rows(ref, "curated", ["doc_id", "domain", "science_score", "cluster_id"])
    assert _rows(home, "curation_exclusions", ["doc_id", "filter", "reason"]) == \
        _rows(ref, "curation_exclusions", ["doc_id", "filter", "reason"])

    # each committed partition is in the manifest: stage rows show what this run computed and what it reused
    _, m = open_storage(home, read_only=True)
    rows = m.query("SELECT s.stage, s.status, count(*) AS n FROM stage_runs s JOIN runs r USING (run_id) "
                   "WHERE r.run_id = ? AND s.stage = 'curate.filter' GROUP BY 1, 2 ORDER BY 2",
                   [second["run_id"]])
    assert {(r["status"], r["n"]) for r in rows} == {("cached", 2), ("completed", 1)}
