"""Hostile inputs through the real flows (Prefect, Dask, the manifest): every input accounted for, identical runs
write identical bytes, and a cache hit on a tampered artifact redoes the work instead of serving it."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.chaos import SECRET, account, make_hostile_inputs  # noqa: E402
from flows.context import discover_inputs  # noqa: E402
from flows.pdf import PdfFlowParams, pdf_flow  # noqa: E402
from flows.web import WebFlowParams, web_flow  # noqa: E402
from storage import open_storage  # noqa: E402

FS = {"fs_name_not_utf8", "fs_symlink_outside", "fs_symlink_dangling", "fs_symlink_loop", "fs_fifo"}


@pytest.mark.parametrize("seed", range(3))
def test_discovery_refuses_links_leaving_the_folder_loops_dangling_links_fifos_and_undecodable_names(tmp_path, seed):
    made = make_hostile_inputs(tmp_path, seed=seed, per_family=2, kinds=("pdf",), families=FS)["pdf"]
    sources, rejected = discover_inputs([str(tmp_path / "pdf")], (".pdf",))
    assert [os.path.basename(s["path"]) for s in sources] == ["valid.pdf"]
    by_uri = {q["source_uri"]: q for q in rejected}
    want = {"fs_name_not_utf8": "input_name_not_utf8", "fs_symlink_outside": "input_symlink_outside",
            "fs_symlink_dangling": "input_dangling_symlink", "fs_symlink_loop": "input_symlink_loop",
            "fs_fifo": "input_not_regular_file"}
    for e in made:
        assert by_uri[e["name"]]["reason"] == want[e["family"]], e
    assert len(rejected) == len(made)
    assert not any(SECRET in q["detail"] for q in rejected)
    assert all(q["source_uri"].encode("utf-8") for q in rejected)  # the manifest can hold every uri


def test_the_same_bytes_under_two_names_are_read_once_and_the_other_name_is_accounted_for(tmp_path):
    for name in ("a.warc", "b.warc", "c.warc"):
        (tmp_path / name).write_bytes(b"")
    sources, rejected = discover_inputs([str(tmp_path)], (".warc",))
    assert [os.path.basename(s["path"]) for s in sources] == ["a.warc"]
    assert [(os.path.basename(q["source_uri"]), q["reason"]) for q in rejected] == [
        ("b.warc", "input_duplicate"), ("c.warc", "input_duplicate")]


def test_a_glob_is_held_to_its_folder_and_a_named_fifo_is_refused_not_read(tmp_path):
    made = make_hostile_inputs(tmp_path, seed=0, per_family=1, kinds=("warc",), families={"fs_symlink_outside",
                                                                                       "fs_fifo"})["warc"]
    _, rejected = discover_inputs([str(tmp_path / "warc" / "*.warc")], (".warc",))
    assert {q["reason"] for q in rejected} == {"input_symlink_outside", "input_not_regular_file"}
    fifo = next(e["name"] for e in made if e["family"] == "fs_fifo")
    _, rejected = discover_inputs([fifo], (".warc",))  # opening it for its sha256 would block forever
    assert [q["reason"] for q in rejected] == ["input_not_regular_file"]


def test_every_hostile_input_of_a_web_run_is_a_page_or_a_quarantine_row_and_the_run_completes(tmp_path, home):
    made = make_hostile_inputs(tmp_path, seed=7, per_family=1, kinds=("warc",), families=FS | {
        "warc_missing_target_uri", "warc_cut_tail", "warc_empty", "warc_garbage", "warc_flipped_bytes",
        "warc_nested_divs"})["warc"]
    out = web_flow(WebFlowParams(home=str(home), input=[str(tmp_path / "warc")], n_workers=1,
                                 web={"record_timeout_s": 2.0}))
    assert out["pages"] >= 1 and out["inputs_refused"] == 6
    acc = account(home, made)
    assert acc["leaked_details"] == 0
    assert [e for e in acc["inputs"] if e["status"] == "unaccounted"] == []
    nested = next(e for e in acc["inputs"] if e["family"] == "warc_nested_divs")
    assert nested["reasons"] == ["web_timeout"]


def _artifact_bytes(home: Path) -> dict[str, tuple[str, dict]]:
    _, m = open_storage(home)
    rows = m.query("SELECT name, content_sha256, files_json FROM artifacts WHERE kind <> 'source' ORDER BY name")
    return {r["name"]: (r["content_sha256"], json.loads(r["files_json"])) for r in rows}


def test_two_identical_runs_in_two_homes_write_byte_identical_artifacts(tmp_path, shared_data):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(shared_data / "pdf" / "submission_363.pdf", inputs)
    for name in ("example.warc.gz", "example-trunc.warc", "example.arc"):
        shutil.copy(shared_data / "warc" / name, inputs)
    homes = [tmp_path / "h1", tmp_path / "h2"]
    for h in homes:
        pdf_flow(PdfFlowParams(home=str(h), input=[str(inputs)], n_workers=1, pdf={"extract_figures": True}))
        web_flow(WebFlowParams(home=str(h), input=[str(inputs)], n_workers=1))
    a, b = (_artifact_bytes(h) for h in homes)
    assert set(a) == {"pdf_partition", "pdf_pages", "documents", "web_partition", "web_pages"}
    for name in a:
        assert a[name] == b[name], name  # every file's size and sha256: no timing, no absolute path of a home


def test_a_tampered_artifact_is_not_served_from_cache_the_stage_is_redone_with_a_warning(tmp_path, home, shared_data,
                                                                                      caplog):
    inputs = [str(shared_data / "warc" / "example.warc.gz")]
    first = web_flow(WebFlowParams(home=str(home), input=inputs, n_workers=1))
    _, m = open_storage(home)
    pages = m.resolve_artifact("web_pages")
    part = next(Path(pages["uri"]).glob("part-*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the recorded sha256 tells
    os.unlink(part)  # a new inode: the partition's own copy stays intact
    part.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        again = web_flow(WebFlowParams(home=str(home), input=inputs, n_workers=1))
    assert again["cached"] is False and again["pages"] == first["pages"]
    assert any("does not match what was committed" in r.getMessage() and "sha256 differs" in r.getMessage()
               for r in caplog.records)
    third = web_flow(WebFlowParams(home=str(home), input=inputs, n_workers=1))
    assert third["cached"] is True  # the row now points at the rewritten, verified copy
