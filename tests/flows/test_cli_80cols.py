"""The `s1` listing verbs at 80 columns (COLUMNS=80, a subprocess as a user runs it): no line wider than 80, status
words and run ids whole, URIs relative to the artifacts root, a compact --describe; a rerun that completed counts
no failed stage for the attempt its killed process abandoned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

S1 = [sys.executable, "-m", "flows.cli"]


def _s1(home: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = dict(os.environ, S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"), COLUMNS=str(columns))
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([*S1, *args], env=env, capture_output=True, text=True, timeout=300)


def _widest(text: str) -> int:
    return max((len(line.rstrip("\n")) for line in text.splitlines()), default=0)


@pytest.fixture(scope="module")
def home(tmp_path_factory, shared_data) -> Path:
    """The real PDF flow over ../shared/data/pdf, then a run killed mid-stage and finished by a rerun."""
    from flows.pdf import PdfFlowParams, pdf_flow
    from storage import open_storage

    home = tmp_path_factory.mktemp("cli80") / "a-rather-long-folder-name-for-an-s1-home" / "s1-home"
    pdf_flow(PdfFlowParams(home=str(home), input=[str(shared_data / "pdf")], n_workers=1))
    _, m = open_storage(home)
    run = m.start_run("curate", {"x": 1})
    m.start_stage(run, "curate", "fp-curate")  # its process dies here: the stage stays 'running'
    assert m.start_run("curate", {"x": 1}, run_id=run) == run  # the rerun abandons it ('failed') and restarts
    sr = m.start_stage(run, "curate", "fp-curate")
    m.finish_stage(sr, "completed")
    m.finish_run(run, "completed")
    return home


def test_s1_runs_fits_80_columns_with_run_ids_and_status_whole(home):
    out = _s1(home, "runs")
    assert out.returncode == 0, out.stderr
    assert _widest(out.stdout) <= 80, out.stdout
    runs = json.loads(_s1(home, "runs", "--json").stdout)
    assert {r["status"] for r in runs} == {"completed"}
    for r in runs:  # the whole id (to copy into `s1 rerun`) and the whole status word on the run's line
        line = next(x for x in out.stdout.splitlines() if r["run_id"] in x)
        assert " completed " in line + " "


def test_a_rerun_that_completed_counts_its_final_stage_states_not_the_abandoned_attempt(home):
    runs = {r["flow"]: r for r in json.loads(_s1(home, "runs", "--json").stdout)}
    assert (runs["curate"]["completed"], runs["curate"]["cached"], runs["curate"]["failed"]) == (1, 0, 0)
    assert runs["curate"]["attempt"] == 2
    line = next(x for x in _s1(home, "runs").stdout.splitlines() if runs["curate"]["run_id"] in x)
    assert line.rstrip().endswith("1/0/0")


def test_s1_lineage_fits_80_columns_with_uris_relative_to_the_artifacts_root(home):
    out = _s1(home, "lineage", "documents")
    assert out.returncode == 0, out.stderr
    assert _widest(out.stdout) <= 80, out.stdout
    root = str(home / "artifacts")
    assert root not in out.stdout  # relative ...
    assert "documents/" in out.stdout and "pdf_pages/" in out.stdout
    assert "pdf_partition ×4" in out.stdout  # one row for the stage's 4 partitions
    full = _s1(home, "lineage", "documents", "--full", columns=400)
    assert root + "/documents/" in full.stdout  # ... and whole with --full
    ids = {a["artifact_id"] for a in json.loads(_s1(home, "lineage", "documents", "--json").stdout)["ancestors"]
           if a["name"] == "pdf_partition"}
    assert len(ids) == 4 and all(f" {i} " in full.stdout for i in ids)


def test_describe_is_compact_at_80_columns_and_describe_all_lists_every_key(tmp_path):
    home = tmp_path / "s1-home"
    short = _s1(home, "run", "pretrain", "--describe")
    full = _s1(home, "run", "pretrain", "--describe-all")
    group = _s1(home, "run", "pretrain", "--describe-keys", "launch.")
    assert short.returncode == full.returncode == group.returncode == 0, short.stderr
    assert max(_widest(short.stdout), _widest(full.stdout), _widest(group.stdout)) <= 80

    def keys(out: str, prefix: str) -> list[str]:
        return [line.split()[0] for line in out.splitlines() if line.startswith(" " + prefix)]

    assert keys(short.stdout, "pretrain.") == ["pretrain.*"] and keys(short.stdout, "launch.") == ["launch.*"]
    every = keys(full.stdout, "pretrain.")
    assert len(every) > 20 and "pretrain.*" not in every
    n = next(line for line in short.stdout.splitlines() if line.startswith(" pretrain.*")).split()[1]
    assert int(n) == len(every)  # the group's line counts its keys
    assert keys(group.stdout, "launch.") == keys(full.stdout, "launch.") and not keys(group.stdout, "pretrain.")
    assert len(short.stdout.splitlines()) * 4 < len(full.stdout.splitlines())
    # the issue's form: `--describe pdf.` (the --describe-keys spelling is the same listing), and `s1 describe`
    prefix = _s1(home, "run", "pretrain", "--describe", "launch.")
    verb = _s1(home, "describe", "pretrain", "launch.")
    assert prefix.returncode == verb.returncode == 0, prefix.stderr
    assert prefix.stdout == group.stdout == verb.stdout


def test_every_listing_verb_answers_json_with_what_its_table_shows(home):
    def js(*args: str):
        out = _s1(home, *args, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    runs = js("runs")
    assert {r["flow"] for r in runs} == {"pdf", "curate"} and all(r["run_id"] in _s1(home, "runs").stdout
                                                                  for r in runs)
    lin = js("lineage", "documents")
    assert lin["artifact"]["name"] == "documents" and {a["name"] for a in lin["ancestors"]} >= {"pdf_pages",
                                                                                               "source_pdf"}
    rows = js("sql", "SELECT name, rows FROM artifacts WHERE name = 'pdf_pages'")
    assert rows == [{"name": "pdf_pages", "rows": 12}]
    tasks = js("bootcamp", "list")
    assert len(tasks) > 50 and {"name", "domain", "configs"} <= set(tasks[0])
    flows = js("run", "--list")
    assert {"pdf", "pipeline", "eval", "export-hf"} <= {f["flow"] for f in flows}

    pdf = js("run", "pdf", "--describe", "pdf.")
    table = _s1(home, "run", "pdf", "--describe", "pdf.").stdout
    assert pdf["prefix"] == "pdf." and pdf["keys"] and all(k["key"].startswith("pdf.") for k in pdf["keys"])
    assert [k["key"] for k in pdf["keys"]] == [line.split()[0] for line in table.splitlines()
                                               if line.startswith(" pdf.")]
    route = next(k for k in pdf["keys"] if k["key"] == "pdf.route_threshold")
    from s1data.pdf import PdfConfig

    assert route["default"] == PdfConfig().route_threshold and route["description"]
    every = js("describe", "pretrain", "--all")
    assert "launch.num_gpus" in {k["key"] for k in every["keys"]}
    required = js("describe", "pdf")
    assert next(k for k in required["keys"] if k["key"] == "input")["required"] is True
