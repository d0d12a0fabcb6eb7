"""The web flow for real on the warcio test files (valid and malformed): one partition per file, cached reruns."""

import shutil
from pathlib import Path

import polars as pl

from flows.web import WebFlowParams, web_flow
from storage import list_files, open_storage, read_parquet


def _run(home, inputs):
    return web_flow(WebFlowParams(home=str(home), input=[str(i) for i in inputs], n_workers=2))


def test_warc_and_arc_files_become_web_pages_and_malformed_records_are_quarantined_with_reasons(home, shared_data):
    out = _run(home, [shared_data / "warc"])
    assert out["files"] == 16 and out["pages"] == 9 and out["mined_partitions"] == 16
    assert {"warc_truncated", "warc_not_html", "warc_malformed"} <= set(out["quarantine_reasons"])
    _, m = open_storage(home)
    web_pages = m.resolve_artifact("web_pages")
    assert [f.name for f in list_files(web_pages["uri"])] == [f"part-{i:05d}.parquet" for i in range(16)]
    pages = pl.from_arrow(read_parquet(web_pages["uri"]))  # a partitioned dataset: one part file per WARC file
    assert pages.height == 9 and set(pages["source_kind"]) == {"web"}
    assert all("#" in u for u in pages["source_uri"])  # file and record offset
    assert m.query("SELECT count(*) AS n FROM quarantine")[0]["n"] == out["quarantined"]

    again = _run(home, [shared_data / "warc"])
    assert again["cached"] is True and again["pages"] == 9
    rows = m.query("SELECT status, count(*) AS n FROM stage_runs WHERE run_id = ? AND stage = 'web.partition' "
                   "GROUP BY ALL", [again["run_id"]])
    assert rows == [{"status": "cached", "n": 16}]


def test_adding_one_warc_file_reads_only_that_file(home, tmp_path, shared_data):
    inputs = tmp_path / "warc"
    shutil.copytree(shared_data / "warc", inputs)
    _run(home, [inputs])
    data = (shared_data / "warc" / "example.warc").read_bytes()
    (inputs / "more.warc").write_bytes(data.replace(b"example.com", b"example.org"))
    out = _run(home, [inputs])
    assert (out["cached_partitions"], out["mined_partitions"]) == (16, 1)
    assert out["pages"] == 10
