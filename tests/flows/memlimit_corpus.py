"""A text-heavy WARC corpus made from real pages, for the memory-bounded end-to-end test (and its probe)."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
from pathlib import Path

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


def touch_store(store: str) -> None:
    """Write, read and delete a small file under `store` from this process: the S3 client, its connection pool and
    fsspec's event-loop thread exist before the limit is set."""
    import uuid

    import pyarrow as pa

    from s1data import parts

    folder = parts.join(store, uuid.uuid4().hex)
    parts.read_file(parts.write(pa.table({"x": list(range(100))}), parts.join(folder, "t.parquet")))
    parts.remove(folder)


def set_cache_bounds(bounds: dict[str, int]) -> None:
    """Set per-process cache bounds, {"module:NAME": value} (e.g. "s1data.filters.text:CACHE_MAX_CHUNKS")."""
    import importlib

    for target, value in bounds.items():
        module, name = target.split(":")
        mod = importlib.import_module(module)
        if not hasattr(mod, name):
            raise AttributeError(f"{module} has no {name}: the cache bound this test sets is gone")
        setattr(mod, name, value)


def limit_worker(headroom: int, store: str | None = None, thread_stack: int = 1 << 20) -> dict:
    """In a Dask worker that has already run the pipeline once (every import, model, thread pool and thread stack of
    its code paths mapped, its bounded caches at their working size): touch the store, then RLIMIT_DATA = VmData +
    `headroom`. The caches' bounds are smaller than the corpus, so the next run evicts and recomputes as it goes.

    RLIMIT_DATA counts a new thread's stack (8 MiB by default) whether or not it is used; the threads this worker
    starts from Python from now on (the two that watch each parser process) get `thread_stack` bytes."""
    import gc
    import threading

    if store:
        touch_store(store)
    gc.collect()
    threading.stack_size(thread_stack)
    return {"limit_bytes": limit_data(headroom), **vm_status()}
