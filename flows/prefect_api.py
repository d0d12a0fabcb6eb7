"""The Prefect API a CLI run talks to, started early or reused.

Without $PREFECT_API_URL, Prefect starts a temporary API server itself, on the first client call: it imports the
whole server package into the CLI process (about 1.5 s) and then waits for a uvicorn subprocess to answer (about
3 s), after every import of the run is done. `start_ephemeral` starts the same server (the same uvicorn command and
settings Prefect uses) as soon as the command knows it will run a flow, so the server boots while the CLI imports
its flow, and `wait_ready` waits for it just before the flow starts. It is this process's child: it carries the
s1 owner tag (s1model.procs) and dies with its parent.

`s1 api start` keeps one running for a home (detached, recorded in <home>/prefect/api.json like `s1 serve`'s, ends
itself after --idle-minutes without a request): every later `s1 run` in that home attaches to it and starts no
server at all. Standard library only at import (the CLI imports this before Prefect).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# what prefect.server.api.server.SubprocessASGIServer sets for its temporary server
EPHEMERAL_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def api_file(home: str | Path) -> Path:
    return Path(home) / "prefect" / "api.json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def _uvicorn_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]


class EphemeralApi:
    """A temporary Prefect API server, child of this process, started now and waited for later."""

    def __init__(self, home: str | Path):
        from s1model.procs import die_with_parent

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        log = Path(home) / "logs" / "prefect-api.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(_uvicorn_cmd(self.port), env={**os.environ, **EPHEMERAL_ENV},
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)
        self.log_path = log
        atexit.register(self.stop)

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until /api/health answers; RuntimeError (naming the log) when the server exits or never answers."""
        deadline = time.monotonic() + timeout
        while not healthy(self.url, timeout=2.0):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Prefect API server exited with code {self.proc.returncode} before it "
                                   f"answered; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Prefect API server did not answer within {timeout:.0f} s; see "
                                   f"{self.log_path}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


_started: EphemeralApi | None = None


def start_ephemeral(home: str | Path) -> EphemeralApi | None:
    """Start the temporary API now (no-op when $PREFECT_API_URL names one already) and point Prefect at it."""
    global _started
    if os.environ.get("PREFECT_API_URL") or _profile_names_an_api():
        return None
    if _started is None:
        _started = EphemeralApi(home)
        os.environ["PREFECT_API_URL"] = _started.url
    return _started


def _profile_names_an_api() -> bool:
    """Whether a Prefect profile may set PREFECT_API_URL (then Prefect's own settings decide, as before)."""
    prefect_home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home / "profiles.toml")
    try:
        return "PREFECT_API_URL" in profiles.read_text()
    except OSError:
        return False


def wait_ready(timeout: float = 180.0) -> None:
    """Wait for the API `start_ephemeral` started (no-op when none was)."""
    if _started is not None:
        _started.wait_ready(timeout)


# --- a kept API per home (s1 api start) -------------------------------------------------------------------------

def recorded(home: str | Path) -> dict | None:
    """The API recorded for this home ({url, pid, ...}) when its process is alive and answers /health."""
    f = api_file(home)
    try:
        rec = json.loads(f.read_text())
        os.kill(int(rec["pid"]), 0)
    except Exception:
        return None
    return rec if healthy(rec["url"]) else None


def start_kept(home: str | Path, idle_minutes: float, timeout: float = 180.0) -> dict:
    """Start a detached API server for `home` (its own session, no s1 owner tag: it outlives this command) that
    exits after `idle_minutes` without a request; record it in api.json. Returns the record."""
    home = Path(home)
    rec = recorded(home)
    if rec:
        return {**rec, "started": False}
    port = free_port()
    log = home / "logs" / "prefect-api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("S1_OWNER", "PREFECT_API_URL")}
    env.update(EPHEMERAL_ENV)
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.prefect_api", str(home), str(port), str(idle_minutes)],
                                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(Path(__file__).resolve().parent.parent))
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while not healthy(url, timeout=2.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the kept Prefect API did not start (exit code {proc.poll()}); see {log}")
        time.sleep(0.1)
    rec = {"url": url, "pid": proc.pid, "kept": True, "idle_minutes": idle_minutes}
    api_file(home).parent.mkdir(parents=True, exist_ok=True)
    api_file(home).write_text(json.dumps(rec))
    return {**rec, "started": True}


def stop_kept(home: str | Path) -> dict | None:
    """Stop the API `s1 api start` kept for `home` (not an `s1 serve` one); returns its record, None if none."""
    f = api_file(home)
    try:
        rec = json.loads(f.read_text())
    except Exception:
        return None
    if not rec.get("kept"):
        return None
    from s1model.procs import stop

    stop([int(rec["pid"])], grace_s=5.0)
    f.unlink(missing_ok=True)
    return rec


def _serve_kept(home: Path, port: int, idle_minutes: float) -> None:
    """The kept server's process: Prefect's API app under uvicorn, with a watchdog that stops it after
    `idle_minutes` without a request, or when the home is gone or its api.json names another server."""
    import threading

    import uvicorn
    from prefect.server.api.server import create_app

    app = create_app(ephemeral=True, final=True)
    last = [time.monotonic()]

    async def touched(scope, receive, send):
        if scope["type"] == "http":
            last[0] = time.monotonic()
        await app(scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(touched, host="127.0.0.1", port=port, log_level="error", lifespan="on"))

    def watchdog() -> None:
        me, born = os.getpid(), time.monotonic()
        while not server.should_exit:
            time.sleep(2.0)
            if not server.started:  # the idle clock starts once it listens
                last[0] = time.monotonic()
                continue
            try:
                mine = json.loads(api_file(home).read_text()).get("pid") == me
            except Exception:
                mine = False
            mine = mine or time.monotonic() - born < 240  # the starter records it once /health answers
            if time.monotonic() - last[0] > idle_minutes * 60 or not home.is_dir() or not mine:
                server.should_exit = True

    threading.Thread(target=watchdog, daemon=True).start()
    server.run()
    try:
        if json.loads(api_file(home).read_text()).get("pid") == os.getpid():
            api_file(home).unlink()
    except Exception:
        pass


if __name__ == "__main__":
    _serve_kept(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
