"""The `s1` command as a user runs it: separate processes, SIGKILL, rerun, runs/lineage/sql."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from flows.pdf import PdfFlowParams, pdf_flow
from s1data.pdf import PdfConfig
from storage import Manifest, open_storage, read_dataset
from tests.pdfzoo import make_corpus

S1 = [sys.executable, "-m", "flows.cli"]


def _env(home: Path) -> dict:
    env = dict(os.environ, S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    env.pop("PREFECT_API_URL", None)
    return env


def _s1(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*S1, *args], env=_env(home), capture_output=True, text=True, check=check, timeout=600)


def test_a_sigkilled_flow_is_finished_by_s1_rerun_with_the_same_artifacts_as_an_uninterrupted_run(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 10, pages=80)
    home, ref = tmp_path / "home", tmp_path / "ref"
    home.mkdir()
    pdf_flow(PdfFlowParams(home=str(ref), input=[str(corpus)], pdf=PdfConfig(files_per_task=1), n_workers=1))

    proc = subprocess.Popen([*S1, "run", "pdf", "--input", str(corpus), "--set", "pdf.files_per_task=1",
                             "--set", "n_workers=1"], env=_env(home), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = home / "manifest.duckdb"
    deadline, committed = time.monotonic() + 300, 0
    while time.monotonic() < deadline and committed < 2:
        time.sleep(0.1)
        if manifest.exists():
            try:
                committed = Manifest(manifest, read_only=True, lock_timeout_s=5).query(
                    "SELECT count(*) AS n FROM artifacts WHERE name = 'pdf_partition'")[0]["n"]
            except Exception:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= committed < 10, "the kill must land mid-stage"

    runs = json.loads(_s1(home, "runs", "--json").stdout)
    assert [r["status"] for r in runs] == ["killed"]
    run_id = runs[0]["run_id"]

    _s1(home, "rerun", run_id)
    _, m = open_storage(home)
    row = m.get_run(run_id)
    assert (row["status"], row["attempt"]) == ("completed", 2)
    parts = m.query("SELECT status, count(*) AS n FROM stage_runs WHERE stage = 'pdf.partition' GROUP BY ALL")
    by = {r["status"]: r["n"] for r in parts}
    # each file mined exactly once across both attempts; the rerun served the committed ones from cache
    assert by["completed"] == 10 and by["cached"] >= committed
    assert m.query("SELECT count(*) AS n FROM stage_runs WHERE status = 'running'")[0]["n"] == 0

    def pages(h):
        _, mm = open_storage(h)
        return pl.from_arrow(read_dataset(mm.resolve_artifact("pdf_pages")["uri"], "pages-"))

    got = pages(home)
    assert got.height == 800 and got.select("source_sha256", "page_no").is_unique().all()
    assert got.equals(pages(ref))


def test_runs_lineage_and_sql_answer_from_the_command_line(tmp_path, shared_data):
    home = tmp_path / "home"
    out = _s1(home, "run", "pdf", "--input", str(shared_data / "pdf"), "--json")
    summary = json.loads(out.stdout)
    assert summary["pages"] == 12 and summary["quarantined"] == 0

    lineage = json.loads(_s1(home, "lineage", "documents", "--json").stdout)
    kinds = sorted({a["name"] for a in lineage["ancestors"]})
    assert kinds == ["pdf_pages", "pdf_partition", "source_pdf"]

    rows = json.loads(_s1(home, "sql", "SELECT name, rows FROM artifacts WHERE name = 'pdf_pages'",
                          "--json").stdout)
    assert rows == [{"name": "pdf_pages", "rows": 12}]

    bad = _s1(home, "sql", "DELETE FROM runs", check=False)
    assert bad.returncode == 1 and "read-only" in bad.stderr.lower().replace("\n", " ")
    missing = _s1(tmp_path / "nowhere", "runs", check=False)
    assert missing.returncode == 1 and "run a flow first" in missing.stderr

    # the table form: a single-stage flow's own figures (not its nested dicts taken for stages)
    table = _s1(home, "run", "pdf", "--input", str(shared_data / "pdf")).stdout
    assert "cached" in table and "pages=12" in table and "routes" not in table.split("figures")[0]

    # a failure names a run to rerun only when this command started it: not the completed pdf run above
    ident = _s1(home, "run", "export-hf", "--set", "checkpoint=999999", check=False)
    assert "ManifestError" in _one_line(ident) and "s1 rerun" not in _one_line(ident)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    return " ".join(proc.stderr.split())


def test_user_mistakes_get_one_line_errors_that_say_what_to_do(tmp_path):
    home = tmp_path / "home"
    assert "export-hf" in _s1(home, "run", "--list").stdout
    # --describe is compact (one line per group, issue #23); a group's keys in full with the prefix form
    compact = _s1(home, "run", "pretrain", "--describe").stdout
    assert "launch.*" in compact and "pretrain.*" in compact and "launch.num_gpus" not in compact
    launch = _s1(home, "run", "pretrain", "--describe", "launch.").stdout
    assert "launch.num_gpus" in launch and "pretrain.max_steps" not in launch
    every = _s1(home, "run", "pretrain", "--describe-all").stdout
    assert "launch.num_gpus" in every and "pretrain.max_steps" in every and "pretrain.model.hidden_size" in every
    # a mistyped key or prefix names the nearest real one
    near = _s1(home, "run", "pretrain", "--set", "launch.num_gpu=2", check=False)
    assert "unknown parameter 'launch.num_gpu'; did you mean 'launch.num_gpus'?" in _one_line(near)
    prefix = _s1(home, "run", "pretrain", "--describe", "lanch.", check=False)
    assert "no --set key of flow 'pretrain' starts with 'lanch.'; did you mean 'launch.'" in _one_line(prefix)
    typo = _s1(home, "run", "pdf", "--input", str(tmp_path), "--set", "route_threshold=0.3", check=False)
    assert "unknown parameter 'route_threshold'; did you mean 'pdf.route_threshold'?" in _one_line(typo)
    # an artifact id is a number on the command line, and the field is text: it must reach the manifest lookup
    ident = _s1(home, "run", "export-hf", "--set", "checkpoint=999999", check=False)
    assert "ManifestError: no artifact '999999' in the manifest" in _one_line(ident)
    nothing = _s1(home, "run", "pdf", "--input", str(tmp_path / "none"), check=False)
    assert "flow 'pdf' failed: FileNotFoundError: --input" in _one_line(nothing)
