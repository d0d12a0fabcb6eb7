"""A text-heavy WARC corpus made from real pages, for the memory-bounded end-to-end test (and its probe)."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
from pathlib import Path

from distributed import WorkerPlugin

_P = re.compile(r"(<p\b[^>]*>)(.*?)(</p>)", re.S | re.I)


def make_text_heavy_warcs(shared: Path, out: Path, files: int, pages_per_file: int, seed: int = 0) -> int:
    """`files` WARC.gz files of real article pages (../shared/data/extraction-dev) whose paragraphs are refilled
    with many real sentences of other articles: ~20-40 KB of main text per page. Returns the text bytes written."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(seed)
    pages = [gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
             for p in sorted((shared / "extraction-dev" / "html").glob("*.html.gz"))]
    gt = json.loads((shared / "extraction-dev" / "ground-truth.json").read_text())
    sents = [s for v in gt.values() for s in re.split(r"(?<=[.!?])\s+", v["articleBody"]) if len(s.split()) >= 6]
    out.mkdir(parents=True, exist_ok=True)
    text_bytes = 0
    for f in range(files):
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True)
        for i in range(pages_per_file):
            filled = []

            def refill(m):
                body = " ".join(rng.choice(sents) for _ in range(rng.randint(8, 16)))
                filled.append(len(body))
                return m.group(1) + body + m.group(3)
            html = _P.sub(refill, rng.choice(pages))
            text_bytes += sum(filled)
            payload = html.encode("utf-8")
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                f"https://site{rng.randrange(20):02d}.example.org/a/{f}-{i}", "response",
                payload=io.BytesIO(payload), http_headers=headers))
        (out / f"crawl-{f:03d}.warc.gz").write_bytes(buf.getvalue())
    return text_bytes


def vm_data_kib() -> int:
    """This process's data segment (VmData, KiB): what RLIMIT_DATA bounds."""
    for line in open("/proc/self/status"):
        if line.startswith("VmData:"):
            return int(line.split()[1])
    raise RuntimeError("no VmData in /proc/self/status")


def limit_data(extra_bytes: int) -> int:
    """Cap this process's data segment at its current size + `extra_bytes` (a hard limit: allocations past it
    fail with MemoryError). Returns the limit in bytes."""
    import resource

    limit = vm_data_kib() * 1024 + extra_bytes
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return limit


def vm_status() -> dict[str, int]:
    """VmData, VmHWM (peak resident) and VmRSS of this process, KiB."""
    out = {}
    for line in open("/proc/self/status"):
        key = line.split(":")[0]
        if key in ("VmData", "VmHWM", "VmRSS"):
            out[key] = int(line.split()[1])
    return out


def small_thread_stacks(size: int = 1 << 20) -> int:
    """Python threads this worker starts from now on get `size`-byte stacks (RLIMIT_DATA counts a new thread's
    whole stack, 8 MiB by default: the two threads that watch each WARC / PDF parser process would take 16 MiB of a
    limit). Set before the warm-up, so the stacks the limited run reuses are these. Returns the previous size."""
    import threading

    return threading.stack_size(size)


def limit_worker(headroom: int) -> dict:
    """In a Dask worker that has already run the pipeline (every import, model, thread pool, thread stack and
    store client of its code paths mapped, its bounded caches at their working size): RLIMIT_DATA = VmData +
    `headroom`. Returns the limit and VmData / VmHWM / VmRSS at that moment."""
    import gc

    # shard writing keeps one loaded tokenizer per process (the warm-up's, its BPE word cache filled, ~10 MiB here);
    # it stays mapped: the limited run's tokenizer replaces it, as in a worker that moves on to another tokenizer.
    # (Clearing it first made the limit ~10 MiB lower than that worker's steady state: freed arenas go back to the
    # kernel, and the new tokenizer's cache then grew into the headroom.)
    gc.collect()
    return {"limit_bytes": limit_data(headroom), **vm_status()}


def block_of(key) -> str:
    """The function name of a Dask task key (`sample_block-<token>`, `parse_batch-<uuid>` -> the name)."""
    k = key[0] if isinstance(key, tuple) else key
    m = re.match(r"[A-Za-z_][\w.]*?(?=-[0-9a-f]|$)", str(k))
    return m.group(0) if m else str(k)


class TaskMemoryLog(WorkerPlugin):
    """A Dask worker plugin: per task, its block (function name), VmData at start and end and the peak sampled
    every 5 ms while it ran (KiB), and its seconds. Each start and end is also appended to `<log_dir>/<pid>.log`
    with one os.write of a short line (no buffer to allocate), so a worker that can no longer allocate, and so
    cannot send its error, still tells which block it was running."""

    name = "s1-task-memory-log"

    def __init__(self, log_dir: str):
        self.log_dir = log_dir

    def setup(self, worker) -> None:
        import os
        import threading
        import time

        self.records: list[tuple] = []
        self.running: dict = {}
        self.peak = 0
        self.fd = os.open(os.path.join(self.log_dir, f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.stop = threading.Event()

        def sample() -> None:
            while not self.stop.wait(0.005):
                try:
                    v = vm_data_kib()
                except MemoryError:
                    continue
                if v > self.peak:
                    self.peak = v

        self.thread = threading.Thread(target=sample, name="s1-vmdata-sampler", daemon=True)
        self.thread.start()
        self._clock = time.perf_counter

    def transition(self, key, start, finish, **kwargs) -> None:
        import os

        if finish == "executing":
            v = vm_data_kib()
            self.peak = v
            self.running[key] = (v, self._clock())
            os.write(self.fd, f"start {block_of(key)} {v}\n".encode())
        elif start == "executing" and key in self.running:
            v0, t0 = self.running.pop(key)
            v = vm_data_kib()
            peak = max(self.peak, v)
            self.records.append((block_of(key), v0, peak, v, round(self._clock() - t0, 3), finish))
            os.write(self.fd, f"end {block_of(key)} {finish} {v0} {peak} {v}\n".encode())

    def teardown(self, worker) -> None:
        import os

        self.stop.set()
        os.close(self.fd)


def task_records(dask_worker) -> list[tuple]:
    """(block, VmData start, peak, end KiB, seconds, final state) of every task this worker ran (client.run)."""
    return list(dask_worker.plugins[TaskMemoryLog.name].records)


def clear_task_records(dask_worker) -> None:
    dask_worker.plugins[TaskMemoryLog.name].records.clear()


def last_blocks(log_dir: str) -> dict[str, str]:
    """{worker pid: its last log line}, for a limited run that stopped answering."""
    from pathlib import Path

    out = {}
    for f in sorted(Path(log_dir).glob("*.log")):
        lines = f.read_text().splitlines()
        out[f.stem] = lines[-1] if lines else "(no task)"
    return out


def log_sizes(log_dir: str) -> dict[str, int]:
    """{log file: its size in bytes}: where a later run's lines start (`growth_in_logs`)."""
    from pathlib import Path

    return {f.name: f.stat().st_size for f in Path(log_dir).glob("*.log")}


def growth_in_logs(log_dir: str, since: dict[str, int]) -> dict[str, dict[str, int]]:
    """{worker pid: {block: VmData growth KiB summed over its finished tasks}} from the log lines written after
    `since` (`log_sizes`): the per-block growth of a run whose workers can no longer answer."""
    from pathlib import Path

    out: dict[str, dict[str, int]] = {}
    for f in sorted(Path(log_dir).glob("*.log")):
        with open(f, "rb") as fh:
            fh.seek(since.get(f.name, 0))
            lines = fh.read().decode(errors="replace").splitlines()
        g = out.setdefault(f.stem, {})
        for line in lines:
            parts = line.split()
            if len(parts) == 6 and parts[0] == "end":
                g[parts[1]] = g.get(parts[1], 0) + int(parts[5]) - int(parts[3])
    return out


def growth_by_block(records: list[tuple]) -> dict[str, dict]:
    """Per block: tasks, total VmData growth over the run's tasks (end - start), the largest peak above the
    task's start, KiB, and seconds."""
    out: dict[str, dict] = {}
    for block, v0, peak, v1, secs, _ in records:
        d = out.setdefault(block, {"tasks": 0, "growth_kib": 0, "max_peak_over_start_kib": 0, "seconds": 0.0})
        d["tasks"] += 1
        d["growth_kib"] += v1 - v0
        d["max_peak_over_start_kib"] = max(d["max_peak_over_start_kib"], peak - v0)
        d["seconds"] = round(d["seconds"] + secs, 2)
    return out
