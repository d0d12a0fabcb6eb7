"""Scale-out as an operator runs it, on loopback: a `dask scheduler` + `dask worker` started from the command line
behind the pdf flow's `dask_address`, a `ray start --head` behind s1model.rl's `ray_address`, and the `deepspeed`
launcher command for a hostfile as DeepSpeed's own launcher parses it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from flows.pdf import PdfFlowParams, pdf_flow
from s1data.pdf import PdfConfig
from storage import open_storage, read_dataset
from tests.pdfzoo import make_corpus

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], log: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ, **env), stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM, then SIGKILL, to the process group this test started (and only that)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and `dask worker` as separate processes on 127.0.0.1; yields the scheduler address."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                        "--no-dashboard"], tmp_path / "scheduler.log")
    worker = _start([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                     "--name", "ext-worker", "--local-directory", str(tmp_path / "dask-worker")],
                    tmp_path / "worker.log")
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=90)
        yield address
    finally:
        _stop(worker)
        _stop(scheduler)


def test_the_pdf_flow_mines_on_a_dask_scheduler_started_from_the_command_line(dask_cluster, tmp_path):
    from distributed import Client

    corpus = tmp_path / "corpus"
    make_corpus(corpus, 3, pages=4)
    home = tmp_path / "home"
    out = pdf_flow(PdfFlowParams(home=str(home), input=[str(corpus)], dask_address=dask_cluster,
                                 pdf=PdfConfig(files_per_task=1)))
    assert out["pages"] == 12 and out["mined_partitions"] == 3 and out["quarantined"] == 0

    def keys(dask_scheduler):
        return sorted({str(entry[0]).split("-")[0] for entry in dask_scheduler.transition_log})

    with Client(dask_cluster) as client:
        # the parse tasks went through this scheduler to its one external worker (no LocalCluster)
        assert "parse_batch" in client.run_on_scheduler(keys)
        assert [w["name"] for w in client.scheduler_info()["workers"].values()] == ["ext-worker"]
    _, m = open_storage(home)
    pages = pl.from_arrow(read_dataset(m.resolve_artifact("pdf_pages")["uri"], "pages-"))
    assert pages.height == 12 and pages.select("source_sha256", "page_no").is_unique().all()


@pytest.fixture
def ray_env() -> dict:
    """Ray 2.60's `ray start` turns on token authentication: head and drivers share RAY_AUTH_TOKEN.

    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray on 127.0.0.1 (otherwise ray.init rewrites a loopback address to
    the machine's outward IP, where a head started with --node-ip-address 127.0.0.1 has no raylet).
    """
    import secrets

    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@pytest.fixture
def ray_head(tmp_path, ray_env):
    """`ray start --head` on 127.0.0.1 with 2 CPUs (blocking, in its own process group); yields its address."""
    port = _free_port()
    head = _start([str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                   "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
                   "--disable-usage-stats"], tmp_path / "ray.log", **ray_env)
    try:
        deadline = time.monotonic() + 90
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None and time.monotonic() < deadline, (tmp_path / "ray.log").read_text()[-3000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(head, grace_s=5)  # a SIGTERMed head drains for up to 30 s; nothing to drain here


RAY_CLIENT = textwrap.dedent("""
    import json, sys
    import ray
    from s1model.rl.online import init_ray
    from s1model.rl.rewards import RewardConfig, score_with_ray

    started = init_ray(sys.argv[1], None)
    samples = [{"data_source": "open/x", "response": "<think>a</think>"} for _ in range(5)]
    scored = score_with_ray(RewardConfig(chunk_size=2), samples)
    print(json.dumps({"started": started, "gcs": ray.get_runtime_context().gcs_address,
                      "cpus": ray.cluster_resources().get("CPU"),
                      "nodes": [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]],
                      "scores": [r.score for r in scored], "sources": [r.source for r in scored]}))
    ray.shutdown()
""")


def test_ray_address_joins_a_running_ray_head_and_scores_rewards_on_it(ray_head, ray_env):
    out = subprocess.run([sys.executable, "-c", RAY_CLIENT, ray_head], cwd=REPO, capture_output=True, text=True,
                         timeout=180, env=dict(os.environ, **ray_env))
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # joined the head we started (its GCS address, its 2 CPUs, its one node), not a fresh local Ray
    assert got["gcs"] == ray_head and got["cpus"] == 2.0 and got["nodes"] == ["127.0.0.1"]
    assert got["started"] is True
    assert got["scores"] == [0.5] * 5 and got["sources"] == ["format"] * 5


def test_deepspeed_command_for_a_hostfile_is_what_the_deepspeed_launcher_parses(tmp_path):
    from deepspeed.launcher import runner

    from s1model.config import PretrainConfig, tiny
    from s1model.launch import deepspeed_command

    hostfile = tmp_path / "hostfile"
    hostfile.write_text("# host slots=GPUs\nnode-a slots=8\nnode-b slots=8\nnode-c slots=4\n")
    cmd = deepspeed_command(tiny(), ["s0.parquet", "s1.parquet"], "/out", hostfile=str(hostfile), num_nodes=2,
                            num_gpus=8, master_addr="node-a", master_port=29600, metrics_path="/out/m.jsonl")
    assert cmd[0] == "deepspeed"
    args = runner.parse_args(cmd[1:])
    assert (args.hostfile, args.num_nodes, args.num_gpus) == (str(hostfile), 2, 8)
    assert (args.master_addr, args.master_port, args.module) == ("node-a", 29600, True)
    assert args.user_script == "s1model.train_entry"
    user = args.user_args
    assert PretrainConfig.model_validate_json(user[user.index("--config") + 1]) == tiny()
    assert user[user.index("--shards") + 1:user.index("--shards") + 3] == ["s0.parquet", "s1.parquet"]
    # the launcher's own resource resolution: the first 2 hosts of the hostfile, 8 ranks each
    pool = runner.fetch_hostfile(str(hostfile))
    active = runner.apply_num_nodes_and_gpus(runner.parse_resource_filter(pool, "", ""), args.num_nodes,
                                             args.num_gpus)
    assert {h: len(r) for h, r in active.items()} == {"node-a": 8, "node-b": 8}
