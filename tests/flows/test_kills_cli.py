"""kill -9 of the `s1` process during pretraining: nothing it started survives it, and `s1 rerun` finishes the run
unaided although the kill left a DeepSpeed op build lock and the trainer's work-folder lock behind."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from s1model.procs import start_time, tag_of, tagged, torch_extensions_dir
from storage import open_storage

S1 = [sys.executable, "-m", "flows.cli"]


def _cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.timeout(3000)  # the demo's data stages, then pretraining twice: minutes on a loaded 2-core machine
def test_a_kill_9_of_s1_during_pretraining_leaves_no_process_and_rerun_breaks_the_locks(tmp_path, shared_data):
    from flows.pipeline import demo_params

    home = tmp_path / "home"
    params = {**demo_params(str(home)), "rl": False}
    params.pop("home")
    cfg = tmp_path / "pipeline.json"
    cfg.write_text(json.dumps(params))
    env = {k: v for k, v in os.environ.items() if k not in ("S1_OWNER", "PREFECT_API_URL")}
    env.update(S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    log = tmp_path / "run.log"
    cli = subprocess.Popen([*S1, "run", "pipeline", "--config", str(cfg)], env=env, stdout=open(log, "w"),
                           stderr=subprocess.STDOUT)
    owner = tag_of(cli.pid)
    deadline, trainer = time.monotonic() + 900, None
    while time.monotonic() < deadline and trainer is None:
        assert cli.poll() is None, "the run ended before the trainer started: " + log.read_text()[-1500:]
        trainer = next((p for p in tagged(owner=owner) if "s1model.train_entry" in _cmdline(p)), None)
        time.sleep(0.2)
    assert trainer is not None
    children = {p: (start_time(p), _cmdline(p)[:100]) for p in tagged(owner=owner)}
    assert any("uvicorn" in _cmdline(p) for p in children), "Prefect's ephemeral API server is a tagged child"
    cli.send_signal(signal.SIGKILL)  # the CLI alone, not its process group
    cli.wait()

    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and tagged(owner=owner):
        time.sleep(0.1)
    left = {p: _cmdline(p)[:100] for p in tagged(owner=owner)}
    assert left == {}, f"still running 6 s after the kill: {left}"
    same = {p: c for p, (t, c) in children.items() if start_time(p) == t}  # (pid, start time): not a reused pid
    assert same == {}, f"started by the killed run and still running: {same}"

    # what a kill during DeepSpeed's op build leaves: its lock file, no process holding it (torch's FileBaton would
    # wait on it forever)
    build_lock = os.path.join(torch_extensions_dir(), "py311_cpu", "deepspeed_shm_comm", "lock")
    if os.path.isdir(os.path.dirname(build_lock)) and not os.path.exists(build_lock):
        open(build_lock, "w").close()
    work_locks = list((home / "work" / "pretrain").glob("*/trainer.lock"))
    assert work_locks and json.loads(work_locks[0].read_text())["owner"] == owner  # the dead flow's lock

    _, m = open_storage(home)
    run_id = m.list_runs(1)[0]["run_id"]
    done = subprocess.run([*S1, "rerun", run_id], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert m.get_run(run_id)["status"] == "completed"
    final = m.resolve_artifact("cpt_checkpoint")
    assert final["kind"] == "hf" and json.loads(final["meta_json"])["final_step"] == 12
    assert not os.path.exists(build_lock) or _held(build_lock)
    assert not work_locks[0].exists()  # released by the rerun's flow
    steps = m.query("SELECT step, count(*) AS n FROM metrics WHERE name = 'train.loss' GROUP BY step ORDER BY step")
    assert [(r["step"], r["n"]) for r in steps] == [(s, 1) for s in range(1, 13)]  # each step recorded once


def _held(path: str) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == path for fd in os.listdir(f"/proc/{pid}/fd")):
                return True
        except OSError:
            pass
    return False
