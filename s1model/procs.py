"""Processes that die with the `s1` process that started them, and locks a rerun can break (Linux /proc).

An `s1` command that starts work (run, demo, rerun, serve) is an *owner*: `become_owner(home)` puts
`S1_OWNER=<pid>:<start time>` in its environment, writes `<home>/procs/<pid>-<start>.json`, and starts a reaper, a
tiny process of its own session that polls the owner and, once it is gone (exit, crash, kill -9), stops every process
whose environment carries the owner's tag. Every process the run starts inherits the tag, whoever starts it: the
trainer and its ranks, Dask workers, Ray's raylet and workers, Prefect's ephemeral API server. A process is named by
(pid, start time), so a recycled pid is never taken for the old process.

The next owner in the same home sweeps first (`sweep_orphans`): processes tagged by a dead owner of this home (the
reaper was killed too, or the machine was busy) are stopped and the dead owner's pid file is removed.

Children we start ourselves also get `PR_SET_PDEATHSIG` (`die_with_parent`): the kernel kills them as soon as the
thread that started them is gone, without waiting for the reaper.

Locks: a lock file s1 owns holds its owner's (pid, start time) (`OwnerLock`); a lock whose owner is dead is broken,
a live one is waited for with a timeout and a one-line error. torch's cpp-extension build lock (`<ext>/<op>/lock`,
DeepSpeed's op builder) holds no pid, but its builder keeps the file open while it compiles: a lock no live process
has open is stale (`break_stale_build_locks`).

Standard library only: the reaper runs this file as a script (`python -S procs.py reap ...`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

log = logging.getLogger(__name__)

OWNER_ENV = "S1_OWNER"
PR_SET_PDEATHSIG = 1


# --- process identity -------------------------------------------------------------------------------------------

def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None when it is gone or a
    zombie (a zombie has exited; only its parent's wait is missing)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()  # after "pid (comm) ": state is field 3
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def tag_of(pid: int | None = None) -> str:
    """`pid:start` naming a process (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{start_time(pid)}"


def alive(tag: str) -> bool:
    """Whether the process named by `pid:start` still runs (the same process, not a reuse of its pid)."""
    pid, _, start = tag.partition(":")
    now = start_time(int(pid)) if pid.isdigit() else None
    return now is not None and str(now) == start


def _environ(pid: int) -> dict[bytes, bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:  # gone, or another user's process
        return {}
    return dict(kv.split(b"=", 1) for kv in raw.split(b"\0") if b"=" in kv)


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def tagged(owner: str | None = None, home: str | None = None) -> dict[int, str]:
    """{pid: owner tag} of the live processes whose environment carries an owner tag (this process excluded);
    `owner` keeps one owner's, `home` those started under S1_HOME=home.

    A live descendant of a tagged process whose environment shows no tag counts as its parent's: a process that
    sets its title over its environment block (setproctitle: Ray's `ray::DashboardAgent` and `ray::RuntimeEnvAgent`,
    children of the raylet) erases the tag from /proc/PID/environ although it inherited it."""
    me, found, untagged = os.getpid(), {}, []
    for pid in _pids():
        if pid == me:
            continue
        env = _environ(pid)
        tag, h = env.get(OWNER_ENV.encode()), env.get(b"S1_HOME")
        if tag is None or (home is not None and h is None and owner is None):  # (part of) the block overwritten
            untagged.append(pid)
            continue
        if owner is not None and tag.decode() != owner:
            continue
        if home is not None and h is not None and h.decode() != home:
            continue
        if start_time(pid) is not None:
            found[pid] = tag.decode()
    parents = {pid: _ppid(pid) for pid in untagged}
    grew = True
    while grew:  # children of tagged processes, then their children...
        grew = False
        for pid, ppid in parents.items():
            if pid not in found and ppid in found and start_time(pid) is not None:
                found[pid] = found[ppid]
                grew = True
    return found


def stop(pids: list[int], grace_s: float = 2.0) -> list[int]:
    """SIGTERM, then SIGKILL after `grace_s` to those still running; returns the pids signalled."""
    named = {p: start_time(p) for p in pids}
    named = {p: s for p, s in named.items() if s is not None}
    for p in named:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(start_time(p) == s for p, s in named.items()):
        time.sleep(0.05)
    for p, s in named.items():
        if start_time(p) == s:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    return sorted(named)


def stop_owned(owner: str, home: str | None = None, grace_s: float = 2.0, rounds: int = 20) -> list[int]:
    """Stop every process tagged by `owner`, again and again until none is left (a dying parent may still start
    one); returns all pids stopped."""
    done: list[int] = []
    for _ in range(rounds):
        pids = list(tagged(owner, home))
        if not pids:
            break
        done += stop(pids, grace_s)
    return done


# --- dying with the parent ---------------------------------------------------------------------------------------

def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when the thread that started it exits (prctl PR_SET_PDEATHSIG);
    exits at once when the parent is already gone. Usable as a Popen preexec_fn. False where prctl is missing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # the parent died before prctl: reparented to init
        os._exit(1)
    return True


def die_with_parent_term() -> None:
    """preexec_fn for a launcher that stops its own children on SIGTERM (the `deepspeed` launcher)."""
    die_with_parent(signal.SIGTERM)


# --- owners, reaper, sweep ----------------------------------------------------------------------------------------

def _procs_dir(home: str) -> str:
    return os.path.join(home, "procs")


def become_owner(home: str, argv: list[str] | None = None, reaper: bool = True) -> str:
    """Tag this process's future children, record the owner's pid file under home and start the reaper; returns the
    tag. Idempotent within a process."""
    home = os.path.abspath(home)
    mine = tag_of()
    if os.environ.get(OWNER_ENV) == mine:
        return mine
    os.environ[OWNER_ENV] = mine
    os.makedirs(_procs_dir(home), exist_ok=True)
    pid, start = mine.split(":")
    path = os.path.join(_procs_dir(home), f"{pid}-{start}.json")
    with open(path, "w") as f:
        json.dump({"pid": int(pid), "start": int(start), "tag": mine, "argv": argv or sys.argv,
                   "started_at": time.time()}, f)
    if reaper:
        start_reaper(mine, home, path)
    return mine


def start_reaper(owner: str, home: str, pid_file: str | None = None) -> subprocess.Popen:
    """A process of its own session (a Ctrl-C or a kill of the owner's group leaves it running) that stops the
    owner's processes once the owner is gone, then removes the pid file."""
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    argv = [sys.executable, "-S", os.path.abspath(__file__), "reap", owner, home] + ([pid_file] if pid_file else [])
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)


def reap(owner: str, home: str | None, pid_file: str | None = None, poll_s: float = 0.2,
         snapshot_s: float = 2.0) -> list[int]:
    """The reaper's body: wait for the owner to be gone, stop its processes, remove its pid file.

    While the owner lives, its processes are listed every `snapshot_s` and remembered by (pid, start time): a
    process whose environment no longer shows the tag is only recognisable through a live tagged parent, and that
    parent may die with the owner (Ray starts its raylet with PDEATHSIG; the raylet's agents, whose titles overwrite
    their environment, outlive it by seconds). Those still running when the owner is gone are stopped first."""
    known: dict[int, int | None] = {}
    next_snapshot = 0.0
    while alive(owner):
        if time.monotonic() >= next_snapshot:
            known.update({p: start_time(p) for p in tagged(owner, home)})
            known = {p: s for p, s in known.items() if s is not None and start_time(p) == s}
            next_snapshot = time.monotonic() + snapshot_s
        time.sleep(poll_s)
    left = [p for p, s in known.items() if s is not None and start_time(p) == s]
    stopped = stop(left) if left else []
    stopped += stop_owned(owner, home)
    if pid_file:
        try:
            os.remove(pid_file)
        except OSError:
            pass
    return stopped


def sweep_orphans(home: str) -> list[int]:
    """Stop the processes left by dead owners of this home (pid files, and any process tagged with this S1_HOME);
    remove those owners' pid files. Live owners (another s1 command in this home) are left alone."""
    home = os.path.abspath(home)
    dead: set[str] = set()
    d = _procs_dir(home)
    for name in os.listdir(d) if os.path.isdir(d) else []:
        try:
            with open(os.path.join(d, name)) as f:
                tag = json.load(f)["tag"]
        except (OSError, ValueError, KeyError):
            continue
        if not alive(tag):
            dead.add(tag)
    dead |= {t for t in set(tagged(home=home).values()) if not alive(t)}
    stopped: list[int] = []
    for tag in sorted(dead):
        stopped += stop_owned(tag)
        pid, _, start = tag.partition(":")
        try:
            os.remove(os.path.join(d, f"{pid}-{start}.json"))
        except OSError:
            pass
    if stopped:
        log.warning("stopped %d process(es) left behind by a killed s1 run in %s: %s", len(stopped), home, stopped)
    return stopped


# --- locks -------------------------------------------------------------------------------------------------------

class LockTimeout(TimeoutError):
    pass


class OwnerLock:
    """A lock file holding its owner's `pid:start` (and what it is for). Taken with O_EXCL; a lock whose owner is
    dead is broken; a live owner is waited for up to `timeout_s`, then LockTimeout with a one-line message.
    `on_dead(info)` is called before a dead owner's lock is broken (e.g. to stop processes it recorded)."""

    def __init__(self, path: str, timeout_s: float = 60.0, what: str = "", owner: str | None = None):
        self.path, self.timeout_s, self.what = path, timeout_s, what or os.path.basename(path)
        self.owner = owner or tag_of()

    def read(self) -> dict | None:
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"owner": "0:None"}  # half-written by a killed owner: treated as dead

    def acquire(self, info: dict | None = None, on_dead=None) -> "OwnerLock":
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self.read()
                if held is None:
                    continue
                if held.get("owner") == self.owner:  # ours already (a retry inside the same process)
                    break
                if not alive(held.get("owner", "0:None")):
                    if on_dead is not None:
                        on_dead(held)
                    log.warning("breaking %s: its owner %s is dead", self.path, held.get("owner"))
                    try:
                        os.remove(self.path)
                    except FileNotFoundError:
                        pass
                    continue
                if time.monotonic() > deadline:
                    raise LockTimeout(f"{self.what} is held by live process {held.get('owner')} ({self.path}); "
                                      f"waited {self.timeout_s:.0f} s: wait for it to finish or stop it") from None
                time.sleep(0.2)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"owner": self.owner, **(info or {})}, f)
            break
        return self

    def update(self, **info) -> None:
        """Rewrite the lock's info (owner kept), atomically."""
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({**(self.read() or {}), **info, "owner": self.owner}, f)
        os.replace(tmp, self.path)

    def release(self) -> None:
        held = self.read()
        if held and held.get("owner") == self.owner:
            os.remove(self.path)

    def __enter__(self) -> "OwnerLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def torch_extensions_dir() -> str:
    """Where torch.utils.cpp_extension builds (DeepSpeed's JIT ops): $TORCH_EXTENSIONS_DIR, else its default."""
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return os.environ["TORCH_EXTENSIONS_DIR"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "torch_extensions")


def _open_files() -> set[str]:
    """Paths that the processes we can inspect (all of this user's) have open."""
    paths = set()
    for pid in _pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or another user's process
            continue
        for fd in fds:
            try:
                paths.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    return paths


def break_stale_build_locks(ext_dir: str | None = None) -> list[str]:
    """Remove `lock` files under the torch extensions dir (`<dir>/<op>/lock`, or one level deeper) that no live process
    holds open: the builder of a killed run. Only this user's locks (another user's processes cannot be inspected).
    Returns the removed paths."""
    root = ext_dir or torch_extensions_dir()
    locks = []
    for base, dirs, files in os.walk(root) if os.path.isdir(root) else []:
        if "lock" in files:
            locks.append(os.path.join(base, "lock"))
        if base.count(os.sep) - root.count(os.sep) >= 2:
            dirs[:] = []
    if not locks:
        return []
    held, removed = _open_files(), []
    for lock in locks:
        try:
            if os.stat(lock).st_uid != os.geteuid() or os.path.realpath(lock) in held:
                continue
            os.remove(lock)
            removed.append(lock)
        except OSError:
            pass
    if removed:
        log.warning("removed stale torch extension build lock(s) of a killed build: %s", removed)
    return removed




if __name__ == "__main__" and len(sys.argv) >= 4 and sys.argv[1] == "reap":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal's group is for the owner, not us
    reap(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
