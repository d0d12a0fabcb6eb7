"""Kills: processes die with the s1 process that started them, a rerun breaks the locks of a dead owner, and the
torch extension build lock of a killed build is removed (s1model.procs, flows.cli)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from s1model.procs import (OWNER_ENV, LockTimeout, OwnerLock, alive, break_stale_build_locks, start_time,
                           sweep_orphans, tag_of, tagged)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# An owner like `s1 run`: takes ownership of HOME, then starts a child, a grandchild through a shell, a child in a
# session of its own (as Prefect's server or Ray's raylet would be), and a grandchild whose environment shows no tag
# (as Ray's agents, which set their title over their environment block), prints their pids and waits to be killed.
OWNER = textwrap.dedent("""
    import json, os, subprocess, sys, time
    sys.path.insert(0, {repo!r})
    from s1model.procs import become_owner
    os.environ["S1_HOME"] = {home!r}
    become_owner({home!r}, reaper={reaper!r})
    kids = [subprocess.Popen(["sleep", "300"]),
            subprocess.Popen(["sh", "-c", "sleep 301 & echo $! > {home}/grandchild; wait"]),
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(302)"], start_new_session=True),
            subprocess.Popen(["sh", "-c", "env -i sleep 303 & echo $! > {home}/untagged; wait"])]
    for name in ("grandchild", "untagged"):
        while not os.path.exists({home!r} + "/" + name) or not open({home!r} + "/" + name).read().strip():
            time.sleep(0.02)
    later = [int(open({home!r} + "/" + n).read()) for n in ("grandchild", "untagged")]
    print(json.dumps([k.pid for k in kids] + later), flush=True)
    time.sleep(300)
""")


def _start_owner(home, reaper=True) -> tuple[subprocess.Popen, list[int]]:
    os.makedirs(home, exist_ok=True)
    code = OWNER.format(repo=REPO, home=str(home), reaper=reaper)
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    kids = json.loads(owner.stdout.readline())
    return owner, kids


def _survivors(pids, within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        left = [p for p in pids if start_time(p) is not None]
        if not left:
            return []
        time.sleep(0.05)
    return left


def _environ_after_exec(pid: int, program: bytes, within_s: float = 10.0) -> bytes:
    """The environment of `pid` once it runs `program`: `$!` names the forked shell, which still carries the shell's
    environment (and the tag) until it execs `env -i program`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read().split(b"\0")[0].endswith(program):
                with open(f"/proc/{pid}/environ", "rb") as g:
                    return g.read()
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never ran {program!r}")


def test_every_process_an_owner_started_dies_within_seconds_of_a_kill_9_of_the_owner(tmp_path):
    owner, kids = _start_owner(tmp_path / "home")
    assert all(start_time(p) is not None for p in kids)
    assert b"S1_OWNER" not in _environ_after_exec(kids[-1], b"sleep")
    assert set(kids) <= set(tagged(owner=tag_of(owner.pid)))  # child, grandchild, other session, untagged grandchild
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert _survivors(kids, within_s=5.0) == []
    deadline = time.monotonic() + 5
    while os.listdir(tmp_path / "home" / "procs") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(tmp_path / "home" / "procs") == []  # the reaper removed the dead owner's pid file


def test_the_next_owner_of_the_home_sweeps_what_a_dead_owner_left_and_spares_other_homes(tmp_path):
    owner, kids = _start_owner(tmp_path / "home", reaper=False)  # as if the reaper had been killed too
    other, other_kids = _start_owner(tmp_path / "other", reaper=False)
    try:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        time.sleep(0.5)
        assert all(start_time(p) is not None for p in kids), "without a reaper the orphans keep running"
        assert len(os.listdir(tmp_path / "home" / "procs")) == 1

        stopped = sweep_orphans(str(tmp_path / "home"))
        assert set(kids) <= set(stopped)
        assert _survivors(kids, within_s=3.0) == []
        assert os.listdir(tmp_path / "home" / "procs") == []
        # the live owner of another home and its children are not touched, nor by a sweep of their own home
        assert sweep_orphans(str(tmp_path / "other")) == []
        assert all(start_time(p) is not None for p in other_kids + [other.pid])
    finally:
        other.kill()
        other.wait()
        sweep_orphans(str(tmp_path / "other"))
    assert _survivors(other_kids, within_s=3.0) == []


def _dead_tag() -> str:
    p = subprocess.Popen(["sleep", "30"])
    tag = f"{p.pid}:{start_time(p.pid)}"
    p.kill()
    p.wait()
    return tag


def test_a_lock_whose_owner_is_dead_is_broken_and_a_recycled_pid_does_not_count_as_the_owner(tmp_path):
    path = str(tmp_path / "trainer.lock")
    dead = _dead_tag()
    assert not alive(dead)
    json.dump({"owner": dead, "trainer": "1:1"}, open(path, "w"))
    broken = []
    lock = OwnerLock(path, timeout_s=1).acquire(info={"what": "test"}, on_dead=broken.append)
    assert broken == [{"owner": dead, "trainer": "1:1"}]
    assert json.load(open(path))["owner"] == tag_of()
    lock.release()
    assert not os.path.exists(path)

    # same pid, another start time: a recycled pid, not the owner
    pid = os.getpid()
    json.dump({"owner": f"{pid}:{start_time(pid) - 1}"}, open(path, "w"))
    with OwnerLock(path, timeout_s=1, owner="1234567:1"):
        assert json.load(open(path))["owner"] == "1234567:1"


def test_a_lock_held_by_a_live_owner_is_waited_for_then_fails_with_one_line(tmp_path):
    path = str(tmp_path / "trainer.lock")
    holder = subprocess.Popen(["sleep", "30"])
    try:
        json.dump({"owner": tag_of(holder.pid)}, open(path, "w"))
        t0 = time.monotonic()
        with pytest.raises(LockTimeout) as e:
            OwnerLock(path, timeout_s=0.5, what="pretraining work folder W").acquire()
        assert 0.5 <= time.monotonic() - t0 < 5
        msg = str(e.value)
        assert "\n" not in msg and "held by live process" in msg and str(holder.pid) in msg
    finally:
        holder.kill()
        holder.wait()
    OwnerLock(path, timeout_s=0.5).acquire().release()  # its owner has exited: broken at once


def test_a_torch_extension_build_lock_no_process_holds_open_is_removed_and_a_held_one_is_kept(tmp_path):
    ext = tmp_path / "torch_extensions" / "py311_cpu"
    (ext / "deepspeed_shm_comm").mkdir(parents=True)
    (ext / "other_op").mkdir()
    stale, held = ext / "deepspeed_shm_comm" / "lock", ext / "other_op" / "lock"
    stale.touch()
    # a live builder: torch's FileBaton keeps the lock file open while it compiles
    builder = subprocess.Popen([sys.executable, "-c", "import os, sys, time\n"
                                f"fd = os.open({str(held)!r}, os.O_CREAT | os.O_EXCL)\n"
                                "print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert builder.stdout.readline().strip() == "ok"
        assert break_stale_build_locks(str(tmp_path / "torch_extensions")) == [str(stale)]
        assert not stale.exists() and held.exists()
    finally:
        builder.kill()
        builder.wait()
    assert break_stale_build_locks(str(tmp_path / "torch_extensions")) == [str(held)]  # its builder was killed


# An owner whose child dies with it (PDEATHSIG, as Ray's raylet) and leaves a grandchild whose environment shows no
# tag (as the raylet's agents): once the parent is dead, nothing but the reaper's earlier snapshot names it.
ORPHANING_OWNER = textwrap.dedent("""
    import json, os, subprocess, sys, time
    sys.path.insert(0, {repo!r})
    from s1model.procs import become_owner, die_with_parent
    os.environ["S1_HOME"] = {home!r}
    become_owner({home!r})
    subprocess.Popen(["sh", "-c", "env -i sleep 304 & echo $! > {home}/orphan; wait"], preexec_fn=die_with_parent)
    while not os.path.exists({home!r} + "/orphan") or not open({home!r} + "/orphan").read().strip():
        time.sleep(0.02)
    print(open({home!r} + "/orphan").read().strip(), flush=True)
    time.sleep(300)
""")


def test_an_untagged_grandchild_whose_parent_dies_with_the_owner_is_stopped_by_the_reaper(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    owner = subprocess.Popen([sys.executable, "-c", ORPHANING_OWNER.format(repo=REPO, home=str(home))],
                             stdout=subprocess.PIPE, text=True, env=env)
    orphan = int(owner.stdout.readline())
    try:
        assert b"S1_OWNER" not in _environ_after_exec(orphan, b"sleep")
        assert orphan in tagged(owner=tag_of(owner.pid))  # through its live, tagged parent
        time.sleep(3.0)  # the reaper lists the owner's processes every 2 s
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert _survivors([orphan], within_s=5.0) == []
    finally:
        if start_time(orphan) is not None:
            os.kill(orphan, signal.SIGKILL)
