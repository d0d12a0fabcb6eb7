import time

import duckdb
import pytest

from storage import Manifest, ManifestError, StorageRoot


@pytest.fixture
def manifest(tmp_path) -> Manifest:
    return Manifest(tmp_path / "manifest.duckdb")


def test_artifact_versions_count_up_per_name_and_repeat_fingerprints_are_not_recorded_twice(manifest):
    a1 = manifest.record_artifact(name="pdf_pages", stage="pdf", fingerprint="f1", kind="parquet", uri="/a",
                                  stage_run_id=None)
    a2 = manifest.record_artifact(name="pdf_pages", stage="pdf", fingerprint="f2", kind="parquet", uri="/b",
                                  stage_run_id=None)
    again = manifest.record_artifact(name="pdf_pages", stage="pdf", fingerprint="f1", kind="parquet", uri="/a",
                                     stage_run_id=None)
    assert again == a1
    assert manifest.resolve_artifact("pdf_pages")["artifact_id"] == a2
    assert manifest.resolve_artifact("pdf_pages:1")["artifact_id"] == a1
    assert manifest.resolve_artifact(str(a2))["version"] == 2


def test_lineage_view_walks_every_ancestor_with_its_depth_in_plain_duckdb(manifest):
    src = manifest.record_sources("source_pdf", [{"path": "/x.pdf", "sha256": "abc", "bytes": 3}])["abc"]
    part = manifest.record_artifact(name="pdf_partition", stage="pdf.partition", fingerprint="p", kind="folder",
                                    uri="/p", stage_run_id=None, parents=[src])
    pages = manifest.record_artifact(name="pdf_pages", stage="pdf", fingerprint="g", kind="parquet", uri="/g",
                                     stage_run_id=None, parents=[part])
    docs = manifest.record_artifact(name="documents", stage="pdf", fingerprint="g", kind="parquet", uri="/d",
                                    stage_run_id=None, parents=[pages])
    con = duckdb.connect(str(manifest.path), read_only=True)
    rows = con.execute("SELECT ancestor_id, depth FROM lineage WHERE artifact_id = ? ORDER BY depth",
                       [docs]).fetchall()
    con.close()
    assert rows == [(pages, 1), (part, 2), (src, 3)]
    sources = [a for a in manifest.ancestors(docs) if a["kind"] == "source"]
    assert [(s["uri"], s["content_sha256"]) for s in sources] == [("/x.pdf", "abc")]


def test_a_run_restarted_by_rerun_keeps_its_id_and_counts_the_attempt(manifest):
    run = manifest.start_run("pdf", {"input": ["a"]})
    manifest.finish_run(run, "failed", "boom")
    again = manifest.start_run("pdf", {"input": ["a"]}, run_id=run)
    assert again == run
    row = manifest.get_run(run)
    assert row["attempt"] == 2 and row["status"] == "running" and row["error"] is None


def test_a_prefect_retry_of_the_same_flow_run_maps_to_the_same_run(manifest):
    run = manifest.start_run("pdf", {}, prefect_flow_run_id="pf-1")
    assert manifest.start_run("pdf", {}, prefect_flow_run_id="pf-1") == run
    assert manifest.start_run("pdf", {}, prefect_flow_run_id="pf-2") != run


def test_stage_status_must_be_one_of_the_contract_values(manifest):
    run = manifest.start_run("pdf", {})
    with pytest.raises(Exception):
        manifest.start_stage(run, "pdf", "fp", status="exploded")


def test_reading_a_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(ManifestError, match="run a flow first"):
        Manifest(tmp_path / "nope.duckdb", read_only=True).query("SELECT 1")


def test_a_reader_waits_for_another_process_holding_the_write_lock_then_reads(manifest):
    import subprocess
    import sys

    manifest.start_run("pdf", {})
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(1.5)"),
        str(manifest.path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    reader = Manifest(manifest.path, read_only=True, lock_timeout_s=20)
    assert reader.query("SELECT count(*) AS n FROM runs")[0]["n"] == 1
    holder.wait()
    assert time.monotonic() - t0 > 0.5  # it had to wait for the lock


def test_a_lock_held_past_the_timeout_is_a_clear_error(manifest):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(5)"),
        str(manifest.path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    try:
        with pytest.raises(ManifestError, match=rf"stayed locked .* by pid {holder.pid} \(.*duckdb"):
            Manifest(manifest.path, read_only=True, lock_timeout_s=0.3).query("SELECT 1")
    finally:
        holder.kill()


def test_a_killed_runs_row_is_reported_as_killed(manifest):
    run = manifest.start_run("pdf", {})
    with manifest.transaction() as con:
        con.execute("UPDATE runs SET pid = 999999 WHERE run_id = ?", [run])
    assert manifest.list_runs()[0]["status"] == "killed"


def test_commit_replaces_a_garbage_folder_left_by_a_killed_run(tmp_path):
    root = StorageRoot.open(tmp_path)
    garbage = root.artifact_path("pdf_pages", "fp")
    garbage.mkdir(parents=True)
    (garbage / "half-written.parquet").write_bytes(b"xx")
    staging = root.staging()
    (staging / "pages.parquet").write_bytes(b"complete")
    final = root.commit(staging, "pdf_pages", "fp")
    assert sorted(p.name for p in final.iterdir()) == ["pages.parquet"]
    assert not staging.exists()


# -- s1 sql: a sandbox over the manifest's tables --------------------------------------------------------------------

@pytest.mark.parametrize("query,why", [
    ("COPY (SELECT 1) TO '{home}/manifest.duckdb'", "only SELECT / WITH"),
    ("COPY artifacts TO '{home}/out.csv'", "only SELECT / WITH"),
    ("ATTACH '{home}/other.duckdb' AS o", "only SELECT / WITH"),
    ("SELECT * FROM read_text('/etc/hostname')", "disabled by configuration"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
    ("SELECT * FROM '/etc/passwd'", "only the manifest's tables"),
    ("SELECT * FROM read_parquet('{home}/t.parquet')", "disabled by configuration"),
    ("SELECT 1; DROP TABLE runs", "exactly one statement"),
    ("SET enable_external_access = true", "only SELECT / WITH"),
    ("INSTALL httpfs", "only SELECT / WITH"),
    ("DELETE FROM runs", "only SELECT / WITH"),
])
def test_s1_sql_refuses_anything_but_a_select_over_the_manifest_and_leaves_every_file_as_it_was(manifest, query, why):
    import pyarrow as pa
    import pyarrow.parquet as pq

    home = manifest.path.parent
    pq.write_table(pa.table({"a": [1]}), home / "t.parquet")
    manifest.start_run("pdf", {})
    before = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
    with pytest.raises(ManifestError, match=why) as e:
        Manifest(manifest.path, read_only=True).select(query.format(home=home))
    assert "\n" not in str(e.value).strip()  # one line
    assert {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()} == before


def test_s1_sql_answers_select_and_with_queries_over_tables_and_views(manifest):
    manifest.start_run("pdf", {})
    ro = Manifest(manifest.path, read_only=True)
    assert ro.select("SELECT count(*) AS n FROM runs") == [{"n": 1}]
    assert ro.select("WITH r AS (SELECT flow FROM runs) SELECT flow FROM r") == [{"flow": "pdf"}]
    assert ro.select("SELECT count(*) AS n FROM lineage") == [{"n": 0}]


def test_a_writer_waits_for_a_reader_holding_the_manifest_open_then_writes(manifest):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('held', flush=True); "
        "time.sleep(4)"), str(manifest.path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    run = Manifest(manifest.path, lock_timeout_s=60).start_run("web", {})  # a new flow's first write
    assert time.monotonic() - t0 > 1.0  # it waited for the reader
    holder.wait()
    assert manifest.get_run(run)["flow"] == "web"


def test_a_writer_blocked_past_its_bound_names_the_process_holding_the_lock(manifest):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('held', flush=True); "
        "time.sleep(30)"), str(manifest.path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    try:
        with pytest.raises(ManifestError, match=rf"locked for 1 s by pid {holder.pid} .*close that session"):
            Manifest(manifest.path, lock_timeout_s=1).start_run("web", {})
    finally:
        holder.kill()
