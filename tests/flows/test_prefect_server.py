"""A real `prefect server start` on loopback, driven through its HTTP API as the UI drives it.

- `s1 serve --no-server` registers every flow as a deployment and runs what the server schedules;
- each deployment's parameter schema (the UI's run form) carries our pydantic fields with their descriptions;
- a pdf run that fails after its partitions committed is finished by the UI's Retry (same Prefect flow run,
  rescheduled): same manifest run, attempt 2, committed partitions `cached`, pages equal to an uninterrupted run;
- a process work pool per machine class (`flows.deployments.deploy_to_pools`) with a `prefect worker` runs it too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from flows.registry import FLOWS
from s1data.pdf import PdfConfig
from storage import Manifest, read_dataset
from tests.pdfzoo import make_corpus

REPO = Path(__file__).resolve().parents[2]
DONE = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class _PatientClient(httpx.Client):
    """The server on SQLite answers 503 while its database is busy (several writers: the served runner, a worker,
    the flows' events); a real UI retries, and so does this client, for up to a minute."""

    def request(self, method, url, **kwargs):
        deadline = time.monotonic() + 60
        while True:
            r = super().request(method, url, **kwargs)
            if r.status_code != 503 or time.monotonic() > deadline:
                return r
            time.sleep(1.0)


class Server:
    def __init__(self, api: str, env: dict, logs: Path):
        self.api, self.env, self.logs = api, env, logs
        self.http = _PatientClient(base_url=api, timeout=30)

    def deployment(self, flow: str, name: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get(f"/deployments/name/{flow}/{name}")
            if r.status_code == 200:
                return r.json()
            assert time.monotonic() < deadline, f"deployment {flow}/{name} never appeared\n" + self.log_tails()
            time.sleep(0.5)

    def create_run(self, deployment: dict, params: dict) -> str:
        r = self.http.post(f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": {"params": params}})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def wait(self, flow_run_id: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            fr = self.http.get(f"/flow_runs/{flow_run_id}").json()
            if fr["state"]["type"] in DONE:
                return fr
            assert time.monotonic() < deadline, f"flow run stuck in {fr['state']}\n" + self.log_tails()
            time.sleep(0.5)

    def log_tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{_tail(p)}" for p in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_HOME=str(base / "server-home"), PREFECT_API_URL=api,
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="INFO")
    proc = _start(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, base / "server.log")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                "prefect server did not answer /api/health\n" + _tail(base / "server.log")
            time.sleep(0.5)
        # clients (runner, worker, flow runs) get their own PREFECT_HOME; they reach the server through the API
        client_env = dict(env, PREFECT_HOME=str(base / "client-home"), PREFECT_RUNNER_POLL_FREQUENCY="1",
                          PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1")
        yield Server(api, client_env, base)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def served(server, tmp_path_factory):
    """Both ways of running deployments, started side by side:

    `s1 serve --no-server` (every flow as deployment `s1-<flow>`, runs executed by that process) and
    `deploy_to_pools` (`s1-<flow>-<class>` on process pools s1-cpu / s1-gpu) with a `prefect worker` on s1-cpu.
    """
    home = tmp_path_factory.mktemp("serve-home")
    serve = _start([sys.executable, "-m", "flows.cli", "serve", "--no-server", "--home", str(home)], server.env,
                   server.logs / "serve.log")
    deploy = subprocess.Popen([sys.executable, "-c", "import json, sys; from flows.deployments import "
                               "deploy_to_pools; print(json.dumps(deploy_to_pools(sys.argv[1])))", str(home)],
                              env=server.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        out, errs = deploy.communicate(timeout=180)
        assert deploy.returncode == 0, errs[-3000:]
        server.pools = json.loads(out.strip().splitlines()[-1])
        worker = _start(["prefect", "worker", "start", "--pool", "s1-cpu", "--type", "process"], server.env,
                        server.logs / "worker.log")
        for fn, _ in FLOWS.values():  # all registered (serve applies them before it starts polling)
            server.deployment(fn.name, f"s1-{fn.name}")
        yield server
    finally:
        for p in (serve, worker):
            if p is not None:
                _stop(p)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_corpus(out, 3, pages=6)
    return out


def _manifest(home: Path) -> Manifest:
    return Manifest(home / "manifest.duckdb", read_only=True, lock_timeout_s=30)


def _pages(home: Path) -> pl.DataFrame:
    return pl.from_arrow(read_dataset(_manifest(home).resolve_artifact("pdf_pages")["uri"], "pages-"))


def test_every_flow_is_a_deployment_whose_ui_form_shows_the_pydantic_fields_with_descriptions(served):
    for key, (fn, model) in FLOWS.items():
        d = served.deployment(fn.name, f"s1-{fn.name}")
        assert d["entrypoint"] == f"{fn.fn.__module__}.{fn.fn.__name__}"  # module path: see flows/deployments.py
        assert d["parameters"]["params"]["home"]
        schema = d["parameter_openapi_schema"]
        assert schema["required"] == ["params"]
        ref = schema["properties"]["params"]["$ref"].rsplit("/", 1)[-1]
        form = schema["definitions"][ref]
        assert ref == model.__name__
        for field, info in model.model_fields.items():
            assert field in form["properties"], (key, field)
            if info.description:
                assert form["properties"][field]["description"] == info.description, (key, field)
    pdf = served.deployment("pdf", "s1-pdf")["parameter_openapi_schema"]["definitions"]
    assert pdf["PdfFlowParams"]["required"] == ["input"]
    assert "Dask scheduler" in pdf["PdfFlowParams"]["properties"]["dask_address"]["description"]
    cfg = pdf["PdfConfig"]["properties"]
    for field, info in PdfConfig.model_fields.items():  # nested models get their own form section
        assert cfg[field]["description"] == info.description, field
    assert cfg["files_per_task"]["default"] == PdfConfig().files_per_task
    assert cfg["high_cost_route"]["enum"] == ["local", "vlm", "none"]


@pytest.fixture(scope="module")
def retried(served, corpus, tmp_path_factory):
    """An uninterrupted run (ref) and a run that fails after committing its partitions, retried as the UI does."""
    ref, home = tmp_path_factory.mktemp("ref"), tmp_path_factory.mktemp("home")
    # a real storage fault: artifacts/pdf_pages is a plain file, so the merge cannot commit its folder there,
    # after every partition has committed under artifacts/pdf_partition
    (home / "artifacts").mkdir()
    (home / "artifacts" / "pdf_pages").write_text("in the way")
    dep = served.deployment("pdf", "s1-pdf")
    params = {"input": [str(corpus)], "n_workers": 1, "pdf": {"files_per_task": 1}}
    ref_id = served.create_run(dep, {**params, "home": str(ref)})
    fr_id = served.create_run(dep, {**params, "home": str(home)})
    # the same flow at the same time through the s1-cpu work pool and its worker, on a third storage root
    pool_home = tmp_path_factory.mktemp("pool-home")
    pool_id = served.create_run(served.deployment("pdf", "s1-pdf-cpu"), {**params, "home": str(pool_home)})
    ref_run, failed = served.wait(ref_id), served.wait(fr_id)
    assert ref_run["state"]["type"] == "COMPLETED", ref_run["state"]

    m = _manifest(home)
    first = m.query("SELECT * FROM runs")
    first_stages = m.query("SELECT stage, status, count(*) AS n FROM stage_runs GROUP BY ALL")

    (home / "artifacts" / "pdf_pages").unlink()  # the operator fixes the fault, then presses Retry
    # the Retry button of Prefect 3.8's UI (ui-v2 RetryFlowRunDialog): this exact call
    r = served.http.post(f"/flow_runs/{fr_id}/set_state", json={
        "state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"}, "force": True})
    assert r.status_code == 201 and r.json()["status"] == "ACCEPT", r.text
    done = served.wait(fr_id)
    return {"ref": ref, "home": home, "failed": failed, "first": first, "first_stages": first_stages,
            "done": done, "flow_run_id": fr_id, "pool_home": pool_home, "pool_run": served.wait(pool_id)}


def test_a_failed_deployment_run_fails_in_prefect_and_in_the_manifest_after_its_partitions_committed(retried):
    failed = retried["failed"]
    assert failed["state"]["type"] == "FAILED" and "FileExistsError" in failed["state"]["message"]
    assert failed["run_count"] == 1
    [run] = retried["first"]
    assert (run["status"], run["attempt"], run["prefect_flow_run_id"]) == ("failed", 1, retried["flow_run_id"])
    by = {(r["stage"], r["status"]): r["n"] for r in retried["first_stages"]}
    assert by == {("pdf", "failed"): 1, ("pdf.partition", "completed"): 3}


def test_retry_from_the_ui_finishes_the_same_run_from_cache_with_the_pages_of_an_uninterrupted_run(retried):
    done = retried["done"]
    assert (done["state"]["type"], done["run_count"]) == ("COMPLETED", 2), done["state"]
    m = _manifest(retried["home"])
    [run] = m.query("SELECT * FROM runs")  # no second run row: Retry maps to the same run
    assert (run["run_id"], run["status"], run["attempt"]) == (retried["first"][0]["run_id"], "completed", 2)
    assert run["prefect_flow_run_id"] == retried["flow_run_id"]
    by = {(r["stage"], r["status"]): r["n"] for r in m.query(
        "SELECT stage, status, count(*) AS n FROM stage_runs GROUP BY ALL")}
    # every file mined once (attempt 1); attempt 2 served all three partitions from cache and redid the merge
    assert by == {("pdf", "failed"): 1, ("pdf", "completed"): 1, ("pdf.partition", "completed"): 3,
                  ("pdf.partition", "cached"): 3}
    got, want = _pages(retried["home"]), _pages(retried["ref"])
    assert got.height == 18 and got.select("source_sha256", "page_no").is_unique().all()
    assert got.equals(want)


def test_a_process_work_pool_per_machine_class_runs_the_deployment_on_a_worker(served, retried):
    assert served.pools["s1-cpu"] and "pdf/s1-pdf-cpu" in served.pools["s1-cpu"]
    assert "pretrain/s1-pretrain-gpu" in served.pools["s1-gpu"]
    pools = served.http.post("/work_pools/filter", json={}).json()
    assert {p["name"]: p["type"] for p in pools if p["name"].startswith("s1-")} == {"s1-cpu": "process",
                                                                                   "s1-gpu": "process"}
    dep = served.deployment("pdf", "s1-pdf-cpu")
    assert dep["work_pool_name"] == "s1-cpu" and dep["entrypoint"] == "flows.pdf.pdf_flow"
    assert dep["parameter_openapi_schema"] == served.deployment("pdf", "s1-pdf")["parameter_openapi_schema"]
    assert served.deployment("pretrain", "s1-pretrain-gpu")["work_pool_name"] == "s1-gpu"
    fr = retried["pool_run"]
    assert fr["state"]["type"] == "COMPLETED", fr["state"]
    assert fr["work_pool_name"] == "s1-cpu"
    [run] = _manifest(retried["pool_home"]).query("SELECT status, prefect_flow_run_id FROM runs")
    assert (run["status"], run["prefect_flow_run_id"]) == ("completed", fr["id"])
    assert _pages(retried["pool_home"]).equals(_pages(retried["ref"]))


def test_a_cli_run_attaches_to_the_api_that_s1_serve_recorded_for_its_home(server, corpus, tmp_path):
    """`s1 serve` records its API in <home>/prefect/api.json; `s1 run` in that home uses it (the run shows in the
    server, no embedded API starts); a record whose process is gone is ignored."""
    home = tmp_path / "home"
    (home / "prefect").mkdir(parents=True)
    (home / "prefect" / "api.json").write_text(json.dumps({"url": server.api, "pid": os.getpid()}))
    env = {k: v for k, v in server.env.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    before = server.http.post("/flow_runs/count", json={}).json()
    r = subprocess.run([sys.executable, "-m", "flows.cli", "run", "pdf", "--home", str(home), "--set",
                        f'input=["{corpus}"]'], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert server.http.post("/flow_runs/count", json={}).json() == before + 1
    assert _manifest(home).query("SELECT prefect_flow_run_id FROM runs")[0]["prefect_flow_run_id"]

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / "prefect" / "api.json").write_text(json.dumps({"url": server.api, "pid": dead.pid}))
    from flows.cli import _attach_served_api

    saved = os.environ.pop("PREFECT_API_URL", None)
    try:
        _attach_served_api(home)
        assert "PREFECT_API_URL" not in os.environ
    finally:
        if saved is not None:
            os.environ["PREFECT_API_URL"] = saved
