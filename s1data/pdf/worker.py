"""Recycled, bounded parser processes.

`parse_batch` (called in a Dask worker) starts one fresh Python process per batch of files: PyMuPDF leaks memory in
long-lived processes, so the process exits after `files_per_task` files. The parent watches the child:
- a file still parsing after `per_file_timeout_s` -> child killed, file quarantined `pdf_timeout`, a new child
  takes the rest of the batch;
- the child's resident memory (polled at 20 Hz) over `max_memory_mb` -> killed, `pdf_memory_limit`;
- the child dying on its own (segfault in MuPDF, OOM killer) -> `pdf_worker_crashed`.
These three are *transient*: the partition is not committed, so a later run tries the file again. The child dies
with its parent (PR_SET_PDEATHSIG), so a killed Dask worker leaves no orphan writing into a staging folder.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from s1data.pdf.config import PdfConfig

TRANSIENT_REASONS = ("pdf_timeout", "pdf_memory_limit", "pdf_worker_crashed")
RUN_FACTS_SUFFIX = ".run.json"  # <partition folder>.run.json: seconds and peak memory of the parse, not content


def _remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def parse_batch(files: list[dict], config: PdfConfig) -> list[dict]:
    """files: [{path, sha256, staging}] -> one summary per file (same order).

    Each file is written to a fresh folder `<staging>/<attempt>/`, returned as `out_dir`. When `staging` is an
    object-store URL (s3://...), the parser child writes into a local scratch folder of this worker and the
    finished partition is uploaded to `<staging>/<attempt>/` (result.json last); the summary then carries `files`
    ({relative path: bytes}) and `content_sha256`, for the flow to verify the upload without reading it back.
    """
    import psutil

    scratch = None
    for f in files:
        attempt = uuid.uuid4().hex
        if _remote(f["staging"]):
            import tempfile

            scratch = scratch or Path(tempfile.mkdtemp(prefix="s1-pdf-"))
            f["out_dir"] = f["staging"].rstrip("/") + "/" + attempt
            f["work_dir"] = str(scratch / attempt)
        else:
            f["out_dir"] = str(Path(f["staging"]) / attempt[:8])
    try:
        return _parse_batch(files, config, psutil)
    finally:
        if scratch is not None:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)


def _upload(f: dict, summary: dict) -> None:
    """Copy a finished partition from the local scratch folder to its prefix on the store."""
    from storage.fingerprint import tree_sha256
    from storage.io import copy_tree, file_infos, loc, open_file

    work = Path(f["work_dir"])
    summary["files"] = file_infos(work)
    summary["content_sha256"] = tree_sha256(work)
    result = work / "result.json"
    body = result.read_bytes()
    result.rename(work.parent / (work.name + ".result.json"))  # upload the data first, the result file last
    copy_tree(work, f["out_dir"])
    with open_file(loc(f["out_dir"]) / "result.json", "wb") as out:
        out.write(body)
    import shutil

    shutil.rmtree(work, ignore_errors=True)


def _parse_batch(files: list[dict], config: PdfConfig, psutil) -> list[dict]:
    pending = list(files)
    results: dict[str, dict] = {}
    while pending:
        cfg = config.model_dump()  # the secret travels to the child on its stdin, unmasked
        cfg["vlm_api_key"] = config.vlm_api_key.get_secret_value() if config.vlm_api_key else None
        job = json.dumps({"files": pending, "config": cfg})
        proc = subprocess.Popen([sys.executable, "-m", "s1data.pdf.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        proc.stdin.write(job)
        proc.stdin.close()
        ps = psutil.Process(proc.pid)
        limit = config.max_memory_mb * 2**20
        peak, started, failure = 0, time.monotonic(), None
        done_count = 0
        def collect() -> None:  # files finished so far, in order
            nonlocal done_count, started
            while done_count < len(pending) and (
                    Path(pending[done_count].get("work_dir") or pending[done_count]["out_dir"]) / "result.json"
            ).exists():
                f = pending[done_count]
                folder = Path(f.get("work_dir") or f["out_dir"])
                summary = json.loads((folder / "result.json").read_text())
                facts = folder.parent / (folder.name + RUN_FACTS_SUFFIX)
                if facts.exists():
                    summary.update(json.loads(facts.read_text()))
                    facts.unlink()
                if f.get("work_dir"):
                    _upload(f, summary)
                summary["out_dir"] = f["out_dir"]
                results[f["sha256"]] = summary
                done_count += 1
                started = time.monotonic()

        while True:
            collect()
            if proc.poll() is not None:
                collect()
                if done_count < len(pending):
                    failure = ("pdf_worker_crashed", f"parser process exited with code {proc.returncode}: "
                               f"{(proc.stderr.read() or '')[-300:].strip()}")
                break
            try:
                rss = ps.memory_info().rss
            except psutil.Error:
                rss = 0
            peak = max(peak, rss)
            if rss > limit:
                failure = ("pdf_memory_limit", f"parser RSS {rss / 2**20:.0f} MiB > max_memory_mb="
                                               f"{config.max_memory_mb}")
            elif time.monotonic() - started > config.per_file_timeout_s:
                failure = ("pdf_timeout", f"no result after per_file_timeout_s={config.per_file_timeout_s}")
            if failure:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        for f in pending[:done_count]:
            results[f["sha256"]].setdefault("peak_rss_mb", peak / 2**20)
        if failure:
            f = pending[done_count]
            results[f["sha256"]] = {"source_uri": f.get("source_uri", f["path"]), "source_sha256": f["sha256"],
                                    "status": "transient", "n_pages": 0, "routes": {}, "n_figures": 0,
                                    "out_dir": None, "peak_rss_mb": peak / 2**20,
                                    "quarantine": [{"source_uri": f.get("source_uri", f["path"]),
                                                    "reason": failure[0], "detail": failure[1]}]}
            done_count += 1
        pending = pending[done_count:]
    return [results[f["sha256"]] for f in files]


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _peak_rss_mb(resource) -> float:
    """This process's own high-water mark (ru_maxrss would carry over the launching process's peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    _die_with_parent()
    import resource

    job = json.loads(sys.stdin.read())
    config = PdfConfig(**job["config"])
    if config.high_cost_route != "local":
        # `import pymupdf` imports pymupdf.layout (ONNX models: ~1 s and ~130 MiB per process) whenever it is
        # installed; only the local high-cost route uses it, and it cannot be imported late, so block it here.
        sys.modules["pymupdf.layout"] = None  # type: ignore[assignment]

    from s1data.pdf.parse import parse_pdf, write_result

    for f in job["files"]:
        out = Path(f.get("work_dir") or f["out_dir"])  # a local folder (the worker uploads it to a store)
        try:
            summary = parse_pdf(f["path"], f["sha256"], out, config, source_uri=f.get("source_uri"))
        except MemoryError:
            summary = {"source_uri": f.get("source_uri", f["path"]), "source_sha256": f["sha256"],
                       "status": "transient", "n_pages": 0, "routes": {}, "n_figures": 0,
                       "quarantine": [{"source_uri": f.get("source_uri", f["path"]), "reason": "pdf_memory_limit",
                                       "detail": "MemoryError in the parser"}]}
            out.mkdir(parents=True, exist_ok=True)
        # facts of this run (time, memory) go beside the partition folder, not in it: its files are content only,
        # so two runs of the same file write byte-identical partitions (and content hashes)
        run_facts = {"seconds": summary.pop("seconds", None), "peak_rss_mb": _peak_rss_mb(resource)}
        (out.parent / (out.name + RUN_FACTS_SUFFIX)).write_text(json.dumps(run_facts))
        write_result(out, summary)


if __name__ == "__main__":
    main()
