import threading
import time

import psutil

from s1data.pdf import PdfConfig, parse_batch
from storage import file_sha256
from tests.pdfzoo import make_corpus


def _files(paths, tmp_path):
    return [{"path": str(p), "sha256": file_sha256(p), "staging": str(tmp_path / f"stage{i}")}
            for i, p in enumerate(paths)]


def test_a_batch_runs_in_one_recycled_process_and_reports_peak_memory(tmp_path):
    paths = make_corpus(tmp_path / "in", 3, pages=2)
    res = parse_batch(_files(paths, tmp_path), PdfConfig())
    assert [r["status"] for r in res] == ["ok"] * 3
    assert all(r["n_pages"] == 2 and 10 < r["peak_rss_mb"] < 2048 for r in res)


def test_a_file_over_the_time_bound_is_a_transient_timeout(tmp_path):
    paths = make_corpus(tmp_path / "in", 1, pages=1)
    [res] = parse_batch(_files(paths, tmp_path), PdfConfig(per_file_timeout_s=0.05))
    assert res["status"] == "transient" and res["quarantine"][0]["reason"] == "pdf_timeout"


def test_a_parser_over_the_memory_bound_is_killed_as_a_transient_memory_limit(tmp_path):
    paths = make_corpus(tmp_path / "in", 1, pages=1)
    [res] = parse_batch(_files(paths, tmp_path), PdfConfig(max_memory_mb=32))
    assert res["status"] == "transient" and res["quarantine"][0]["reason"] == "pdf_memory_limit"


def test_a_killed_parser_costs_only_its_current_file_and_a_new_process_does_the_rest(tmp_path):
    paths = make_corpus(tmp_path / "in", 3, pages=150)
    out: list = []
    t = threading.Thread(target=lambda: out.extend(parse_batch(_files(paths, tmp_path), PdfConfig())))
    t.start()
    me = psutil.Process()
    deadline = time.monotonic() + 60
    killed = False
    while time.monotonic() < deadline and not killed:
        for child in me.children():
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:  # a zombie or a process that just ended
                continue
            if "s1data.pdf.worker" in cmdline:
                time.sleep(0.3)
                child.kill()
                killed = True
                break
        time.sleep(0.02)
    t.join(120)
    assert killed
    statuses = [r["status"] for r in out]
    assert statuses.count("transient") == 1 and statuses.count("ok") == 2
    crashed = next(r for r in out if r["status"] == "transient")
    assert crashed["quarantine"][0]["reason"] == "pdf_worker_crashed"
