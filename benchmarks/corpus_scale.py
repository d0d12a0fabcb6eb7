"""Corpus scale (issue 17): web -> curate -> tokenize at 1x, 4x, 16x through the real `s1` CLI, and datatrove's
FineWeb-style pipeline on the same WARCs in the same run.

Corpus: WARC files generated from real pages. Each record is the HTML of a real article page of
../shared/data/extraction-dev (181 pages) whose paragraphs (`<p>` contents) are replaced by real sentences drawn
at random from the ground-truth article texts and the science-dev paragraphs, so every record has its own text and
real page structure; 1 record in 20 is an exact copy of an earlier one (dedup has work to do). URLs spread over
200 domains. `--base-mb` sets the 1x size (gzip WARC bytes).

Measured per scale, by polling every process of the run tree (psutil, every 0.2 s): wall time, CPU seconds of all
processes, peak RSS of each process role (the flow process, Dask workers and nannies, the parser subprocesses,
the embedded Prefect API), documents in / kept. datatrove: WarcReader -> Trafilatura -> GopherRepetition ->
GopherQuality -> C4Quality -> FineWebQuality -> JsonlWriter, its LocalPipelineExecutor with one task per WARC file
(its LanguageFilter needs a fastText model from a hub, which cannot be fetched here: left out, as s1's language id
runs anyway, so s1 does strictly more work). Each run prints one JSON line; `--json FILE` writes them all.

    python benchmarks/corpus_scale.py --base-mb 20 --scales 1 4 16 --workers 2
    python benchmarks/corpus_scale.py --base-mb 20 --scales 4 --workers 1 2        # 1 -> 2 workers
    python benchmarks/corpus_scale.py --base-mb 8 --scales 4 --workers 1 2 --file-mb 8   # 4 partitions
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
_P = re.compile(r"(<p\b[^>]*>)(.*?)(</p>)", re.S | re.I)


def _sentences() -> list[str]:
    gt = json.loads((SHARED / "extraction-dev" / "ground-truth.json").read_text())
    out = []
    for v in gt.values():
        out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", v["articleBody"]) if len(s.split()) >= 6]
    with gzip.open(SHARED / "science-dev" / "docs.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            if i % 4 == 0:
                out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"])
                        if len(s.split()) >= 6]
    return out


def make_corpus(out: Path, target_bytes: int, seed: int = 0, file_bytes: int = 64 << 20, procs: int = 1,
                prefix: str = "crawl-") -> dict:
    """WARC.gz files under `out` totalling about `target_bytes`; returns counts. With `procs` > 1, that many
    processes each write an equal share under their own seed and file prefix (a 20 GB corpus in minutes, not an
    hour); the corpus is then a different (equally random) one than procs=1 gives. A folder that holds a finished
    corpus (its `corpus.json`, written last, for the same size) is reused."""
    done = out / "corpus.json"
    if done.exists():
        rec = json.loads(done.read_text())
        if rec.get("target_bytes") == target_bytes and rec.get("file_bytes") == file_bytes:
            return rec["corpus"]
    if procs > 1:
        import multiprocessing as mp

        share = -(-target_bytes // procs)
        with mp.get_context("spawn").Pool(procs) as pool:
            parts = pool.starmap(_make_part, [(str(out), share, seed * 1000 + 1 + i, file_bytes, f"crawl-p{i:02d}-")
                                              for i in range(procs)])
        corpus = {k: sum(p[k] for p in parts) for k in ("records", "files", "bytes")}
    else:
        corpus = _make_part(str(out), target_bytes, seed, file_bytes, prefix)
    done.write_text(json.dumps({"target_bytes": target_bytes, "file_bytes": file_bytes, "procs": procs,
                                "corpus": corpus}))
    return corpus


def _make_part(out: str, target_bytes: int, seed: int, file_bytes: int, prefix: str) -> dict:
    out = Path(out)
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(seed)
    pages = [gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
             for p in sorted((SHARED / "extraction-dev" / "html").glob("*.html.gz"))]
    sents = _sentences()
    out.mkdir(parents=True, exist_ok=True)
    written, records, files, recent = 0, 0, 0, []
    fh = writer = None
    while written < target_bytes:
        if writer is None or fh.tell() >= file_bytes:
            if fh:
                fh.close()
            fh = open(out / f"{prefix}{files:05d}.warc.gz", "wb")
            writer, files = WARCWriter(fh, gzip=True), files + 1
        if recent and rng.random() < 0.05:
            html = rng.choice(recent)
        else:
            html = _P.sub(lambda m: m.group(1) + " ".join(rng.choice(sents) for _ in range(rng.randint(2, 6)))
                          + m.group(3), rng.choice(pages))
            recent = (recent + [html])[-50:]
        url = f"https://site{rng.randrange(200):03d}.example.org/article/{records}"
        payload = html.encode("utf-8")
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                              ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
        before = fh.tell()
        writer.write_record(writer.create_warc_record(  # the payload type as Common Crawl records it
            url, "response", payload=io.BytesIO(payload), http_headers=headers,
            warc_headers_dict={"WARC-Identified-Payload-Type": "text/html"}))
        written += fh.tell() - before
        records += 1
    fh.close()
    return {"records": records, "files": files, "bytes": written}


class TreeMonitor:
    """Polls a process tree: peak RSS per role and CPU seconds per pid (the last value seen before it exits)."""

    ROLES = (("dask_worker", "distributed.nanny"), ("dask_worker", "dask worker"), ("dask_worker", "spawn_main"),
             ("prefect_api", "uvicorn"), ("prefect_api", "prefect"), ("parser", "s1data"))

    def __init__(self, pid: int, every: float = 0.2):
        import psutil

        self.root, self.every, self.psutil = psutil.Process(pid), every, psutil
        self.peak: dict[str, int] = {}
        self.cpu: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def role(self, p) -> str:
        if p.pid == self.root.pid:
            return "flow"
        try:
            cmd = " ".join(p.cmdline())
        except Exception:
            return "other"
        return next((r for r, key in self.ROLES if key in cmd), "other")

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except self.psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                    r = self.role(p)
                    self.peak[r] = max(self.peak.get(r, 0), rss)
                except Exception:
                    pass
            time.sleep(self.every)

    def finish(self) -> dict:
        self.stop.set()
        self.thread.join()
        return {"peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sorted(self.peak.items())},
                "cpu_s": round(sum(self.cpu.values()), 1)}


def run_monitored(cmd: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mon = TreeMonitor(proc.pid)
    out, _ = proc.communicate()
    res = mon.finish()
    res["wall_s"] = round(time.perf_counter() - t0, 2)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return res


class Services:
    """`--services`: what a team runs once and keeps (a Dask scheduler with `workers` worker processes, one thread
    each, and the home's kept Prefect API, `s1 api start`), so the three flows pay neither start-up. Their CPU
    seconds are read per step from psutil and reported apart (`services_cpu_s`)."""

    def __init__(self, home: Path, workers: int, scratch: Path):
        import psutil

        self.psutil, self.procs = psutil, []
        env = {**os.environ, "S1_HOME": str(home), "TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}
        bindir = Path(sys.executable).parent
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        scratch.mkdir(parents=True, exist_ok=True)
        self.log = open(scratch / "services.log", "ab")
        self._spawn([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--dashboard-address", ":0", "--no-show"], env, scratch)
        for i in range(workers):
            wdir = scratch / f"worker-{i}"  # the workers' own working directories, not the flow's
            wdir.mkdir(exist_ok=True)
            self._spawn([str(bindir / "dask"), "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                         "--local-directory", str(wdir), "--no-dashboard"], env, wdir)
        from distributed import Client

        with Client(self.address, timeout=120) as c:
            c.wait_for_workers(workers, timeout=180)
        out = subprocess.run([str(bindir / "s1"), "api", "start"], env=env, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"s1 api start failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
        rec = json.loads((home / "prefect" / "api.json").read_text()) if (home / "prefect" / "api.json").exists() \
            else None
        self.api_pid = rec["pid"] if rec else None
        self.home, self.env = home, env
        self.peak: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _roots(self) -> list:
        roots = [self.psutil.Process(p.pid) for p in self.procs if p.poll() is None]
        if self.api_pid:
            try:
                roots.append(self.psutil.Process(self.api_pid))
            except self.psutil.NoSuchProcess:
                pass
        return roots

    def _poll(self) -> None:
        """Peak RSS per role of the kept services (each Dask worker process on its own, its nanny apart)."""
        while not self.stop.is_set():
            for r in self._roots():
                try:
                    procs = [r] + r.children(recursive=True)
                except self.psutil.NoSuchProcess:
                    continue
                for p in procs:
                    try:
                        cmd = " ".join(p.cmdline())
                        role = ("prefect_api" if r.pid == self.api_pid else
                                "dask_scheduler" if "scheduler" in cmd else
                                "dask_nanny" if p.pid == r.pid else "dask_worker")
                        self.peak[role] = max(self.peak.get(role, 0), p.memory_info().rss)
                    except Exception:
                        pass
            time.sleep(0.2)

    def take_peak(self) -> dict:
        """Peak RSS MiB per role since the last call."""
        peak, self.peak = self.peak, {}
        return {k: round(v / 2**20, 1) for k, v in sorted(peak.items())}

    def _spawn(self, cmd: list[str], env: dict, cwd: Path) -> None:
        self.procs.append(subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=self.log, stderr=subprocess.STDOUT))

    def cpu_s(self) -> float:
        total = 0.0
        for r in self._roots():
            for p in [r] + r.children(recursive=True):
                try:
                    t = p.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
                except self.psutil.NoSuchProcess:
                    pass
        return total

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        subprocess.run([str(Path(sys.executable).parent / "s1"), "api", "stop"], env=self.env, capture_output=True)
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_s1(warcs: Path | None, home: Path, workers: int, tokenize_set: list[str] = (), services: bool = False,
           only: tuple[str, ...] = ("web", "curate", "tokenize")) -> dict:
    s1 = str(Path(sys.executable).parent / "s1")
    env = {**os.environ, "S1_HOME": str(home)}
    steps = {}
    svc = Services(home, workers, home.parent / f"{home.name}-services") if services else None
    cluster = ["--set", f"dask_address={svc.address}"] if svc else ["--set", f"n_workers={workers}"]
    try:
        for name, args in (("web", ["run", "web", "--input", str(warcs), *cluster]),
                           ("curate", ["run", "curate", *cluster, "--set", "documents=null"]),
                           ("tokenize", ["run", "tokenize", *cluster, "--set", "tokenizer.vocab_size=8000",
                                         *[a for kv in tokenize_set for a in ("--set", kv)]])):
            if name not in only:
                continue
            before = svc.cpu_s() if svc else 0.0
            if svc:
                svc.take_peak()
            steps[name] = run_monitored([s1, *args, "--json"], env)
            if svc:
                steps[name]["services_cpu_s"] = round(svc.cpu_s() - before, 1)
                steps[name]["services_peak_rss_mib"] = svc.take_peak()
            print(json.dumps({"step": name, **steps[name]}), file=sys.stderr, flush=True)
    finally:
        if svc:
            svc.close()
    sys.path.insert(0, str(REPO))
    from storage import open_storage

    _, m = open_storage(home)
    rows = {r["name"]: r["rows"] for r in m.query(
        "SELECT name, rows FROM artifacts WHERE name IN ('web_pages', 'curated', 'token_shards') "
        "ORDER BY artifact_id")}
    return {"steps": steps, "rows": rows, "wall_s": round(sum(s["wall_s"] for s in steps.values()), 2),
            "cpu_s": round(sum(s["cpu_s"] + s.get("services_cpu_s", 0.0) for s in steps.values()), 1),
            "services": services}


def run_datatrove(warcs: Path, out: Path, workers: int) -> dict:
    code = f"""
import glob
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter,
                                        FineWebQualityFilter)
from datatrove.pipeline.writers import JsonlWriter
n = len(glob.glob({str(warcs)!r} + '/*.warc.gz'))
LocalPipelineExecutor(pipeline=[WarcReader({str(warcs)!r}, glob_pattern='*.warc.gz'), Trafilatura(favour_precision=True),
    GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
    FineWebQualityFilter(), JsonlWriter({str(out / 'out')!r})], tasks=n, workers={workers},
    logging_dir={str(out / 'logs')!r}).run()
"""
    res = run_monitored([sys.executable, "-c", code], {**os.environ})
    kept = 0
    for f in (out / "out").glob("*.jsonl.gz"):
        with gzip.open(f, "rt") as fh:
            kept += sum(1 for _ in fh)
    res["kept"] = kept
    return res


def run_datatrove_rest(out: Path, tokenizer_json: Path, workers: int) -> dict:
    """The rest of FineWeb's published pipeline after the filters, on the filters' output (`run_datatrove`'s
    out/out/*.jsonl.gz): MinHash dedup in datatrove's four stages (FineWeb's config: 5-grams, 14 buckets x 8
    hashes), then the PII formatter (emails, public IPs) and DocumentTokenizer with s1's tokenizer of the same run
    (tokenizer.json: datatrove cannot fetch GPT-2's here). s1's curate and tokenize steps do this work too (MinHash
    dedup, PII scrubbing, tokenization into shards); the filters-only figure leaves it out. FineWeb's URL filter and
    fastText language filter are not run: their blocklists and model are downloads."""
    code = f"""
import glob
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.dedup import (MinhashDedupSignature, MinhashDedupBuckets, MinhashDedupCluster,
                                      MinhashDedupFilter)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.tokens import DocumentTokenizer
src, o = {str(out / 'out')!r}, {str(out)!r}
n = max(1, len(glob.glob(src + '/*.jsonl.gz')))
cfg = MinhashConfig()  # FineWeb: 5-grams, 14 buckets x 8 hashes
LocalPipelineExecutor(pipeline=[JsonlReader(src), MinhashDedupSignature(output_folder=o + '/sigs', config=cfg)],
                      tasks=n, workers={workers}, logging_dir=o + '/logs-sig').run()
LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=o + '/sigs', output_folder=o + '/buckets',
                                                    config=cfg)],
                      tasks=cfg.num_buckets, workers={workers}, logging_dir=o + '/logs-buckets').run()
LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=o + '/buckets', output_folder=o + '/remove',
                                                    config=cfg)],
                      tasks=1, logging_dir=o + '/logs-cluster').run()
LocalPipelineExecutor(pipeline=[JsonlReader(src), MinhashDedupFilter(input_folder=o + '/remove'), PIIFormatter(),
                                DocumentTokenizer(output_folder=o + '/tokens',
                                                  tokenizer_name_or_path={str(tokenizer_json)!r},
                                                  eos_token='<|endoftext|>')],
                      tasks=n, workers={workers}, logging_dir=o + '/logs-final').run()
"""
    return run_monitored([sys.executable, "-c", code], {**os.environ})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-mb", type=float, default=20)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--file-mb", type=float, default=64, help="WARC file size (one web / curation partition each)")
    ap.add_argument("--gen-procs", type=int, default=1,
                    help="processes that generate the WARC corpus (1 reproduces the published corpora; more make a "
                         "different random corpus of the same kind, faster)")
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--datatrove-full", action="store_true",
                    help="also run the rest of FineWeb's pipeline on datatrove's filtered output (MinHash dedup, PII, "
                         "tokenization with s1's tokenizer of the same run), the work s1's curate and tokenize do")
    ap.add_argument("--services", action="store_true",
                    help="run the flows against a kept Dask cluster (scheduler + N worker processes with their own "
                         "working directories) and a kept Prefect API (`s1 api start`), as a team on a cluster does; "
                         "their CPU is reported apart as services_cpu_s")
    ap.add_argument("--tokenize-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --set for `s1 run tokenize` (e.g. tokenizer.max_training_chars=4000000 to show the "
                         "tokenizer's bounded sample reach its bound at 1x)")
    ap.add_argument("--rerun", default=None, metavar="HOME",
                    help="run curate and tokenize again on the home of an earlier run (e.g. after a fix; its "
                         "committed blocks are reused) with --workers[0] and --services as given, then stop")
    ap.add_argument("--tmp", default=None, help="scratch folder (default: a temporary folder, removed)")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    a = ap.parse_args()
    if a.rerun:
        r = run_s1(None, Path(a.rerun), a.workers[0], a.tokenize_set, a.services, only=("curate", "tokenize"))
        print(json.dumps(r), flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps(r, indent=1))
        return
    tmp = Path(a.tmp or tempfile.mkdtemp(prefix="s1-corpus-scale-"))
    results = []
    try:
        for scale in a.scales:
            warcs = tmp / f"warc-{scale}x"
            t0 = time.perf_counter()
            corpus = make_corpus(warcs, int(a.base_mb * scale * 2**20), file_bytes=int(a.file_mb * 2**20),
                                 procs=a.gen_procs)
            print(json.dumps({"generated": corpus, "scale": scale, "s": round(time.perf_counter() - t0, 1)}),
                  file=sys.stderr, flush=True)
            for w in a.workers:
                r = {"scale": scale, "workers": w, "corpus": corpus,
                     "s1": run_s1(warcs, tmp / f"home-{scale}x-{w}w", w, a.tokenize_set, a.services)}
                r["s1"]["docs_per_cpu_s"] = round(corpus["records"] / r["s1"]["cpu_s"], 1)
                if not a.no_datatrove:
                    r["datatrove"] = run_datatrove(warcs, tmp / f"dt-{scale}x-{w}w", w)
                    r["datatrove"]["docs_per_cpu_s"] = round(corpus["records"] / r["datatrove"]["cpu_s"], 1)
                    r["s1_vs_datatrove_per_cpu"] = round(r["s1"]["docs_per_cpu_s"] / r["datatrove"]["docs_per_cpu_s"], 2)
                    if a.datatrove_full:
                        tok = next((tmp / f"home-{scale}x-{w}w" / "artifacts" / "tokenizer").glob("*/tokenizer.json"))
                        rest = run_datatrove_rest(tmp / f"dt-{scale}x-{w}w", tok, w)
                        cpu = r["datatrove"]["cpu_s"] + rest["cpu_s"]
                        r["datatrove_fineweb"] = {
                            "rest": rest, "cpu_s": round(cpu, 1),
                            "wall_s": round(r["datatrove"]["wall_s"] + rest["wall_s"], 2),
                            "docs_per_cpu_s": round(corpus["records"] / cpu, 1)}
                        r["s1_vs_datatrove_fineweb_per_cpu"] = round(
                            r["s1"]["docs_per_cpu_s"] / r["datatrove_fineweb"]["docs_per_cpu_s"], 2)
                r["load_avg"] = os.getloadavg()
                print(json.dumps(r), flush=True)
                results.append(r)
    finally:
        if a.tmp is None:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = fixed_and_marginal(results)
    if summary:
        print(json.dumps({"fixed_and_marginal": summary}), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results + ([{"fixed_and_marginal": summary}] if summary else []),
                                           indent=1))


def fixed_and_marginal(results: list[dict]) -> list[dict]:
    """Per worker count, between the smallest and the largest scale: the marginal CPU cost per document (slope of
    CPU-s over records) and the fixed CPU-s (intercept), for s1 (total and per stage) and datatrove."""
    out = []
    for w in sorted({r["workers"] for r in results}):
        rs = sorted((r for r in results if r["workers"] == w), key=lambda r: r["corpus"]["records"])
        if len(rs) < 2:
            continue
        lo, hi = rs[0], rs[-1]
        dn = hi["corpus"]["records"] - lo["corpus"]["records"]
        if dn <= 0:
            continue

        def fit(c_lo: float, c_hi: float) -> dict:
            per_doc = (c_hi - c_lo) / dn
            return {"marginal_docs_per_cpu_s": round(1 / per_doc, 1) if per_doc > 0 else None,
                    "marginal_cpu_ms_per_doc": round(1000 * per_doc, 2),
                    "fixed_cpu_s": round(c_lo - per_doc * lo["corpus"]["records"], 1)}

        row = {"workers": w, "from_records": lo["corpus"]["records"], "to_records": hi["corpus"]["records"],
               "s1": fit(lo["s1"]["cpu_s"], hi["s1"]["cpu_s"]),
               "s1_stages": {k: fit(lo["s1"]["steps"][k]["cpu_s"], hi["s1"]["steps"][k]["cpu_s"])
                             for k in lo["s1"]["steps"]}}
        if "datatrove" in lo and "datatrove" in hi:
            row["datatrove"] = fit(lo["datatrove"]["cpu_s"], hi["datatrove"]["cpu_s"])
            a_, b_ = row["s1"]["marginal_cpu_ms_per_doc"], row["datatrove"]["marginal_cpu_ms_per_doc"]
            row["s1_vs_datatrove_marginal"] = round(b_ / a_, 2) if a_ > 0 else None
        out.append(row)
    return out


if __name__ == "__main__":
    main()
