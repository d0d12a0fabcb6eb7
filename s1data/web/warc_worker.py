"""A WARC/ARC file read in a watched child process: time and memory bounds that hold inside Dask workers.

`read_warc_bounded` (called wherever `read_warc_partition` runs: a Dask worker thread, a notebook) starts one
fresh Python process per file and watches it, the way `s1data.pdf.worker` watches the PDF parser:
- the child reports each record as it starts and ends (one JSON line on stdout, a heartbeat);
- a record still running `record_timeout_s` + 2 s after it started (the child's own SIGALRM could not interrupt it:
  lxml or a regex stuck in C) -> child killed, the record quarantined `web_timeout`, and a new child reads the file
  again, skipping the records already killed (their rows are quarantine rows, written by the child);
- the child's resident memory (polled at 20 Hz) over `max_memory_mb` during a record -> `web_memory_limit` for that
  record, same restart; outside a record -> the file;
- the child dying on its own during a record (a segfault in a C parser) -> `web_worker_crashed` for that record;
- the whole file past `file_timeout_s`, more than `max_killed_records` kills, or a crash outside a record -> the
  file is quarantined (`web_file_timeout`, `web_too_many_kills`, `web_worker_crashed`) with an empty partition, and
  the stage goes on with the other files.
A restart re-reads the records before the killed one: a file costs at most (kills + 1) passes, only when a record
was killed. The child dies with its parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import collections
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from s1data.web.warc_reader import PAGE_SCHEMA, WarcReader, WebConfig, read_warc_partition_here, write_warc_partition

KILL_GRACE_S = 2.0  # after record_timeout_s, the child's own SIGALRM had its chance


def read_warc_bounded(path: str | Path, out_dir: str | Path, config: WebConfig) -> dict:
    """`read_warc_partition` in a watched child process (see the module docstring); same summary."""
    import psutil

    t0 = time.monotonic()
    skip: dict[str, tuple[str, str]] = {}
    limit = config.max_memory_mb * 2**20
    peak = 0
    while True:
        proc = subprocess.Popen([sys.executable, "-m", "s1data.web.warc_worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events: queue.Queue = queue.Queue()
        err_tail: collections.deque = collections.deque(maxlen=20)
        readers = [threading.Thread(target=_pump, args=(proc.stdout, events.put), daemon=True),
                   threading.Thread(target=_pump, args=(proc.stderr, err_tail.append), daemon=True)]
        for t in readers:
            t.start()
        proc.stdin.write(json.dumps({"path": str(path), "out_dir": str(out_dir),
                                     "config": config.model_dump(mode="json"), "skip": skip}))
        proc.stdin.close()
        ps = psutil.Process(proc.pid)
        current: tuple[str, float] | None = None  # (record uri, started) while a record is being read
        result, failure = None, None  # failure: (scope "record" | "file", reason, detail)
        while True:
            try:
                while True:
                    line = events.get_nowait()
                    kind, value = json.loads(line)
                    if kind == "S":
                        current = (value, time.monotonic())
                    elif kind == "D":
                        current = None
                    elif kind == "R":
                        result = value
            except queue.Empty:
                pass
            except ValueError:  # a stray line on stdout (a library printing): not ours
                pass
            if proc.poll() is not None:
                readers[0].join(timeout=5)
                if not events.empty():
                    continue
                if result is None:
                    where = "record" if current else "file"
                    failure = (where, "web_worker_crashed",
                               f"reader process exited with code {proc.returncode}" + (
                                   f": {_last_line(err_tail)}" if _last_line(err_tail) else ""))
                break
            now = time.monotonic()
            try:
                rss = ps.memory_info().rss
            except psutil.Error:
                rss = 0
            peak = max(peak, rss)
            if now - t0 > config.file_timeout_s:
                failure = ("file", "web_file_timeout", f"file not read within file_timeout_s={config.file_timeout_s}")
            elif rss > limit:
                failure = ("record" if current else "file", "web_memory_limit",
                           f"reader RSS {rss / 2**20:.0f} MiB > max_memory_mb={config.max_memory_mb}")
            elif current and now - current[1] > config.record_timeout_s + KILL_GRACE_S:
                failure = ("record", "web_timeout", f"record still being read after record_timeout_s="
                                                    f"{config.record_timeout_s} (+{KILL_GRACE_S} s); reader killed")
            if failure:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        if failure is None:
            result["peak_rss_mb"] = peak / 2**20
            result["seconds"] = time.monotonic() - t0
            return result
        scope, reason, detail = failure
        if scope == "record" and current is not None:
            skip[current[0]] = (reason, detail)
            if len(skip) <= config.max_killed_records:
                continue
            reason, detail = "web_too_many_kills", f"{len(skip)} records killed > max_killed_records"
        import pyarrow as pa

        rows = [{"source_uri": uri, "reason": r, "detail": d} for uri, (r, d) in sorted(skip.items())]
        rows.append({"source_uri": str(path), "reason": reason, "detail": detail + "; no page of the file kept"})
        out = write_warc_partition(pa.Table.from_pylist([], schema=PAGE_SCHEMA), rows, out_dir,
                                   time.monotonic() - t0)
        out["peak_rss_mb"] = peak / 2**20
        return out


def _pump(stream, put) -> None:
    for line in stream:
        put(line.rstrip("\n"))


def _last_line(lines) -> str:
    """The last non-empty stderr line (an exception's type and message), cut short."""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main() -> None:
    _die_with_parent()
    job = json.loads(sys.stdin.read())
    config = WebConfig(**job["config"])
    reader = WarcReader(config)
    reader.skip = {uri: tuple(v) for uri, v in job["skip"].items()}
    out = sys.stdout

    def emit(kind: str, value) -> None:
        out.write(json.dumps([kind, value]) + "\n")
        out.flush()

    reader.on_record = lambda uri: emit("S", uri)
    reader.on_done = lambda uri: emit("D", uri)
    sys.stdout = sys.stderr  # anything a library prints goes to stderr, not into the protocol
    emit("R", read_warc_partition_here(job["path"], job["out_dir"], config, reader))


if __name__ == "__main__":
    main()
