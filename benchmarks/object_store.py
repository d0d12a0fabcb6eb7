"""Artifacts on an object store vs local disk, and the streaming PDF merge vs the one-frame merge, side by side.

    python benchmarks/object_store.py [--data ../shared/data] [--copies 100,500,1500] [--batch-pages 2000]
                                      [--skip-flows] [--json OUT]

A. Flows on real inputs (../shared/data/warc: 16 real WARC/ARC files, several malformed; ../shared/data/pdf: 4 real
   PDFs), run once with `--artifacts` on local disk and once on an S3 server (moto's server mode in its own process
   on loopback, the stand-in for S3 / MinIO: its CPU is not counted), each in a fresh process with a fresh home and
   n_workers=1: wall seconds, the flow process's CPU seconds (time.process_time; Dask worker CPU excluded), and a
   fully cached rerun. Reference: the same flow on local disk, same run.
B. PDF merge + global page dedup: the one-frame merge (`merge_partitions`, the reference: every page of every
   partition in one polars frame) against `merge_partitions_streaming` (one partition at a time), each in a fresh
   process: peak RSS (VmHWM) and CPU seconds (streaming with `--batch-pages` pages per batch), over N copies of the real partitions of ../shared/data/pdf (each copy
   a distinct source: sha256 and page text suffixed with the copy number, so no page is a duplicate), and checks
   that both write the same rows.
The load average is printed: other jobs share this machine, so wall times are noisy; CPU seconds are the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FLOW_RUN = r"""
import json, os, sys, time
sys.path.insert(0, {repo!r})
kind, home, artifacts, inputs = sys.argv[1:5]
t0, c0 = time.perf_counter(), time.process_time()
if kind == "web":
    from flows.web import WebFlowParams as P, web_flow as f
else:
    from flows.pdf import PdfFlowParams as P, pdf_flow as f
out = []
for i in range(2):
    a, b = time.perf_counter(), time.process_time()
    r = f(P(home=home, artifacts=artifacts or None, input=[inputs], n_workers=1))
    out.append({{"wall_s": time.perf_counter() - a, "cpu_s": time.process_time() - b, "cached": r["cached"],
                "pages": r["pages"]}})
print(json.dumps(out))
"""

MERGE_RUN = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
mode, parts_file, out, batch = sys.argv[1:5]
from pathlib import Path
from s1data.pdf.merge import merge_partitions, merge_partitions_streaming
parts = json.load(open(parts_file))
c0, w0 = time.process_time(), time.perf_counter()
if mode == "one_frame":
    counts = merge_partitions(parts, Path(out) / "pages", Path(out) / "documents")
else:
    counts = merge_partitions_streaming(parts, Path(out) / "pages", Path(out) / "documents", batch_pages=int(batch))
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps({{"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0, "peak_rss_mb": hwm,
                  "pages": counts["pages"], "documents": counts["documents"]}}))
"""


def run_flows(data: Path) -> dict:
    env = dict(os.environ, PREFECT_LOGGING_LEVEL="ERROR", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", "from moto.server import ThreadedMotoServer; import time; "
                               f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False); "
                               "s.start(); time.sleep(10**6)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s3env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
             "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    env.update(s3env)
    try:
        import boto3

        for _ in range(100):
            try:
                boto3.client("s3", endpoint_url=s3env["AWS_ENDPOINT_URL"], aws_access_key_id="bench",
                             aws_secret_access_key="bench", region_name="us-east-1").create_bucket(Bucket="s1-bench")
                break
            except Exception:
                time.sleep(0.1)
        out = {}
        for kind, inputs in (("web", data / "warc"), ("pdf", data / "pdf")):
            for where in ("local", "s3"):
                with tempfile.TemporaryDirectory() as tmp:
                    home = Path(tmp) / "home"
                    artifacts = f"s3://s1-bench/{kind}-{time.time_ns()}" if where == "s3" else ""
                    env["PREFECT_HOME"] = str(Path(tmp) / "prefect")
                    r = subprocess.run([sys.executable, "-c", FLOW_RUN.format(repo=str(REPO)), kind, str(home),
                                        artifacts, str(inputs)], env=env, capture_output=True, text=True,
                                       timeout=900)
                    if r.returncode != 0:
                        raise RuntimeError(r.stderr[-2000:])
                    out[f"{kind}_{where}"] = json.loads(r.stdout.strip().splitlines()[-1])
                    print(kind, where, out[f"{kind}_{where}"], flush=True)
        return out
    finally:
        server.kill()
        server.wait()


def make_partitions(data: Path, copies: int, root: Path) -> list[str]:
    """`copies` distinct-source copies of the real partitions of data/pdf (mined once into a local home)."""
    import hashlib

    import polars as pl

    from s1data.pdf import PdfConfig, parse_batch
    from s1data.pdf.parse import dedup_key, page_doc_id
    from storage import file_sha256

    mined = root / "mined"
    if not mined.exists():  # the real PDFs parsed once by the library (no flow, no Prefect)
        files = [{"path": str(p), "sha256": file_sha256(p), "staging": str(mined / p.stem)}
                 for p in sorted((data / "pdf").glob("*.pdf"))]
        parse_batch(files, PdfConfig())
    base = sorted(str(p.parent) for p in mined.rglob("pages.parquet"))
    out = []
    for c in range(copies):
        for j, uri in enumerate(base):
            pages = pl.read_parquet(Path(uri) / "pages.parquet")
            figs = pl.read_parquet(Path(uri) / "figures.parquet")
            sha = hashlib.sha256(f"{c}:{j}".encode()).hexdigest()
            texts = [t + f"\n[copy {c}]" for t in pages["text"].to_list()]
            pages = pages.with_columns(
                pl.lit(sha).alias("source_sha256"), pl.Series("text", texts),
                pl.Series("doc_id", [page_doc_id(sha, int(n)) for n in pages["page_no"].to_list()]),
                pl.Series("dedup_key", [dedup_key(t, 50) for t in texts]))
            d = root / "parts" / f"{sha}"
            d.mkdir(parents=True, exist_ok=True)
            pages.write_parquet(d / "pages.parquet")
            figs.with_columns(pl.lit(sha).alias("source_sha256")).write_parquet(d / "figures.parquet")
            out.append((sha, str(d)))
    return [d for _, d in sorted(out)]


def run_merges(data: Path, copies: list[int], batch_pages: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in copies:
            parts = make_partitions(data, n, root)
            pf = root / f"parts-{n}.json"
            pf.write_text(json.dumps(parts))
            res = {}
            for mode in ("one_frame", "streaming"):
                dest = root / f"out-{n}-{mode}"
                r = subprocess.run([sys.executable, "-c", MERGE_RUN.format(repo=str(REPO)), mode, str(pf), str(dest),
                                    str(batch_pages)], capture_output=True, text=True, timeout=1800)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr[-2000:])
                res[mode] = json.loads(r.stdout.strip().splitlines()[-1])
            import pyarrow.parquet as pq

            from storage import read_dataset

            same = read_dataset(root / f"out-{n}-streaming" / "pages", "pages-").equals(
                pq.read_table(root / f"out-{n}-one_frame" / "pages" / "pages.parquet"))
            res["same_pages"] = bool(same)
            res["partitions"] = len(parts)
            out[str(n)] = res
            print("merge", n, res, flush=True)
            import shutil

            shutil.rmtree(root / "parts", ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--copies", default="25,100,400")
    ap.add_argument("--skip-flows", action="store_true")
    ap.add_argument("--batch-pages", type=int, default=2000, help="merge_partitions_streaming batch_pages (its "
                    "default is 20000; smaller here so that the bound shows on a corpus of this size)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    print("load average at start:", os.getloadavg(), flush=True)
    res = {"load_start": os.getloadavg()}
    if not a.skip_flows:
        res["flows"] = run_flows(Path(a.data))
    res["merge"] = run_merges(Path(a.data), [int(x) for x in a.copies.split(",")], a.batch_pages)
    res["batch_pages"] = a.batch_pages
    res["load_end"] = os.getloadavg()
    print("load average at end:", res["load_end"])
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
