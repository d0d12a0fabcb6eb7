"""Verifiers bounded in time: each call runs in a child process that is killed when it passes its time limit.

A signal-based limit (``SIGALRM``) works only in the main thread, and a thread cannot be stopped, so a verifier stuck
in a CPU loop (sympy simplifying an adversarial expression, a plugin's ``while True``) would keep burning a reward
worker. ``BoundedVerifier`` keeps one long-lived child (``python -m s1data.bootcamp.bounded``, JSON lines on
stdin/stdout) (started on first use, so a judge that never
scores costs nothing); a call sends ``(task, identity_json, output)`` over a pipe and waits at most ``timeout_s``.
Past the limit the child is killed (its pid only) and the verdict is ``bootcamp_verifier_timeout``; a child that
dies gives ``bootcamp_verifier_crashed``; the next call starts a fresh child. Works in any thread, in Ray and Dask
workers alike.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time

from s1data.bootcamp.base import Verdict

logger = logging.getLogger(__name__)


def _serve() -> None:
    """Child loop (``python -m s1data.bootcamp.bounded``): one JSON request per stdin line, one verdict per line."""
    from s1data.bootcamp.registry import verdict

    for heavy in ("rdkit.Chem", "sympy", "pint"):  # imported before the clock of the first request starts
        try:
            __import__(heavy)
        except ImportError:
            pass
    out = sys.stdout
    sys.stdout = sys.stderr  # a verifier's print() must not corrupt the protocol
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        task, identity_json, output, kwargs = json.loads(line)
        v = verdict(task, identity_json, output, **kwargs)
        out.write(json.dumps([v.score, v.reason, v.detail]) + "\n")
        out.flush()


class _Child:
    """The worker process and a line reader over its stdout with a deadline."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p or os.getcwd() for p in sys.path))
        self.proc = subprocess.Popen([sys.executable, "-m", "s1data.bootcamp.bounded"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        self.buf = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, obj) -> None:
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def readline(self, timeout_s: float) -> str | None:
        """The next line, or None past the deadline; EOFError when the child exited."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("the verifier process exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # this child only, by its pid
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:  # noqa: BLE001
                pass


class BoundedVerifier:
    """``verdict(task, identity_json, output)`` with a per-call wall-clock limit (see the module docstring)."""

    def __init__(self, timeout_s: float = 5.0, start_timeout_s: float = 120.0):
        self.timeout_s, self.start_timeout_s = timeout_s, start_timeout_s
        self._child: _Child | None = None
        self._lock = threading.Lock()  # one request in flight per child
        self.timeouts = 0
        self.restarts = 0

    def _start(self) -> None:
        self._child = _Child()
        self.restarts += 1
        try:
            line = self._child.readline(self.start_timeout_s)
        except EOFError:
            line = None
        if line != "ready":
            self._kill()
            raise RuntimeError(f"the bounded verifier process did not start within {self.start_timeout_s:g}s")

    def _kill(self) -> None:
        if self._child is not None:
            self._child.kill()
        self._child = None

    def start(self) -> None:
        """Start the child now (else the first call does): starting Python and its imports take a few seconds."""
        with self._lock:
            if self._child is None or not self._child.alive():
                self._kill()
                self._start()

    def verdict(self, task: str, identity_json: str, output: str, format_score: float = 0.0,
                format_penalty: bool = False) -> Verdict:
        """The verifier's verdict, or ``bootcamp_verifier_timeout`` / ``bootcamp_verifier_crashed``; never raises
        for the verifier's sake."""
        with self._lock:
            t0 = time.monotonic()
            try:
                if self._child is None or not self._child.alive():
                    self._kill()
                    self._start()
                self._child.send([task, identity_json, output,
                                  {"format_score": format_score, "format_penalty": format_penalty}])
                line = self._child.readline(self.timeout_s)
                if line is None:
                    self.timeouts += 1
                    self._kill()
                    return Verdict(0.0, "bootcamp_verifier_timeout", f"over {self.timeout_s:g}s")
                score, reason, detail = json.loads(line)
            except (EOFError, OSError, RuntimeError, ValueError) as exc:
                self._kill()
                return Verdict(0.0, "bootcamp_verifier_crashed", f"{type(exc).__name__} after "
                               f"{time.monotonic() - t0:.1f}s")
            return Verdict(score, reason, detail)

    def close(self) -> None:
        with self._lock:
            self._kill()

    def __del__(self):  # noqa: D105
        try:
            self._kill()
        except Exception:  # noqa: BLE001
            pass


if __name__ == "__main__":
    _serve()
