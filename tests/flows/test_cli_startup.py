"""Start-up of a small run (issue #23): `s1 run pdf` loads no training stack, a fully cached run starts no Dask
cluster, and `s1 api start` keeps one Prefect API per home that later runs attach to (and that stops by itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

S1 = [sys.executable, "-m", "flows.cli"]
HEAVY = ("torch", "deepspeed", "ray", "transformers", "distributed")


def _env(home: Path) -> dict:
    env = dict(os.environ, S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    env.pop("PREFECT_API_URL", None)
    return env


def _s1(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([*S1, *args], env=_env(home), capture_output=True, text=True, timeout=600)
    assert not check or out.returncode == 0, out.stderr
    return out


def _pid_alive(pid: int) -> bool:
    from s1model.procs import start_time

    return start_time(pid) is not None


LOADED = """
import json, sys
import flows.cli
from flows.registry import FLOWS
FLOWS[sys.argv[1]]
print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))
"""


def test_the_pdf_flow_loads_without_the_training_stack_and_eval_loads_it():
    def loaded(flow: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", LOADED, flow, *HEAVY], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert loaded("pdf") == []
    assert "torch" in loaded("eval")  # the check sees an import when there is one (s1model.eval imports torch)


def test_a_fully_cached_pdf_run_starts_no_dask_cluster(tmp_path, shared_data, monkeypatch):
    import flows.engines
    from flows.pdf import PdfFlowParams, pdf_flow

    params = PdfFlowParams(home=str(tmp_path / "home"), input=[str(shared_data / "pdf" / "two_pages.pdf"),
                                                               str(shared_data / "pdf" / "submission_363.pdf")],
                           n_workers=1)
    first = pdf_flow(params)
    assert not first["cached"] and first["mined_partitions"] == 2

    def no_cluster(*a, **k):
        raise AssertionError("a Dask cluster was started for a fully cached run")

    monkeypatch.setattr(flows.engines, "dask_client", no_cluster)
    again = pdf_flow(params)
    assert again["cached"] and again["pages"] == first["pages"]


def _flow_runs(url: str) -> list[dict]:
    r = httpx.post(url + "/flow_runs/filter", json={}, timeout=30)
    r.raise_for_status()
    return r.json()


def test_s1_api_start_keeps_one_api_per_home_that_runs_attach_to_and_s1_api_stop_ends_it(tmp_path, shared_data):
    home = tmp_path / "home"
    started = json.loads(_s1(home, "api", "start", "--idle-minutes", "10", "--json").stdout)
    try:
        assert started["started"] and _pid_alive(started["pid"])
        again = json.loads(_s1(home, "api", "start", "--json").stdout)
        assert not again["started"] and again["pid"] == started["pid"]  # found, not a second one
        assert json.loads(_s1(home, "api", "status", "--json").stdout)["url"] == started["url"]

        pdfs = ["--input", str(shared_data / "pdf" / "two_pages.pdf")]
        first = json.loads(_s1(home, "run", "pdf", *pdfs, "--set", "n_workers=1", "--json").stdout)
        second = json.loads(_s1(home, "run", "pdf", *pdfs, "--set", "n_workers=1", "--json").stdout)
        assert not first["cached"] and second["cached"]
        # both runs went to the kept API (no temporary one): its database holds their flow runs
        assert [r["state_type"] for r in _flow_runs(started["url"])] == ["COMPLETED", "COMPLETED"]
        assert not (home / "logs" / "prefect-api.log").exists() or "Traceback" not in (
            home / "logs" / "prefect-api.log").read_text()
    finally:
        stopped = _s1(home, "api", "stop")
    assert "stopped" in stopped.stdout
    deadline = time.monotonic() + 10
    while _pid_alive(started["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(started["pid"]) and not (home / "prefect" / "api.json").exists()
    assert json.loads(_s1(home, "api", "status", "--json").stdout) is None


def test_a_kept_api_stops_by_itself_when_idle(tmp_path):
    home = tmp_path / "home"
    rec = json.loads(_s1(home, "api", "start", "--idle-minutes", "0.05", "--json").stdout)  # 3 s
    deadline = time.monotonic() + 60
    while _pid_alive(rec["pid"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _pid_alive(rec["pid"]):
        _s1(home, "api", "stop")
        pytest.fail("the kept API was still running 60 s after a 3 s idle limit")
    assert not (home / "prefect" / "api.json").exists()


def test_s1_keep_api_minutes_makes_a_run_start_a_kept_api_that_the_next_run_attaches_to(tmp_path, shared_data):
    home = tmp_path / "home"
    env = dict(_env(home), S1_KEEP_API_MINUTES="10")
    pdf = ["run", "pdf", "--input", str(shared_data / "pdf" / "two_pages.pdf"), "--set", "n_workers=1", "--json"]
    first = subprocess.run([*S1, *pdf], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    rec = json.loads(_s1(home, "api", "status", "--json").stdout)
    try:
        assert rec["kept"] and _pid_alive(rec["pid"])  # outlived the run that started it
        second = subprocess.run([*S1, *pdf], env=env, capture_output=True, text=True, timeout=600)
        assert second.returncode == 0 and json.loads(second.stdout)["cached"], second.stderr
        assert json.loads(_s1(home, "api", "status", "--json").stdout)["pid"] == rec["pid"]
        assert len(_flow_runs(rec["url"])) == 2
    finally:
        _s1(home, "api", "stop")
