"""Dedup benchmarks (issue 3): signature throughput, 2-worker speed-up, and a large corpus under a memory bound.

Corpus: generated, deterministic. Originals are 150–450 random words (mean 300) from a 50k-word vocabulary; a share
are planted as exact copies (upper case + punctuation, so only the normalised hash matches) and as near copies (1%
of words replaced, at least one: Jaccard of 5-shingles ~0.9), placed in random positions of the whole corpus, so
almost every copy lands in another partition than its original. Every text is rebuilt from its original's seed, so
generation needs no corpus-sized memory. ASCII only (the `normalise_text` fast path; non-ASCII text takes the
slower NFKC + regex path).

    python benchmarks/web_dedup.py signatures [--docs 20000]
    python benchmarks/web_dedup.py scaling [--docs 100000 --partitions 20]
    python benchmarks/web_dedup.py scale [--docs 1000000 --partitions 100 --workers 2]
    python benchmarks/web_dedup.py recall [--bases 2000 --seed 0]

`recall` (issue 16) is on real text instead: the 181 `articleBody` texts of ../shared/data/extraction-dev and the
21,392 paragraphs of ../shared/data/science-dev are the distinct documents; each article and `--bases` science
paragraphs of >= 50 words get one planted variant (word substitutions / deletions / insertions, or a paragraph /
sentence shuffle plus substitutions) at a target Jaccard of 5-word shingles drawn uniformly in [0.35, 1), the exact
Jaccard recorded. Per threshold 0.5..0.9, s1 (`near_duplicate_clusters` with bands chosen from the threshold) and
datasketch's `MinHashLSH` (same shingles, same 128 permutations, its own optimal bands) run on the same docs in the
same process: recall = planted pairs with exact Jaccard >= t found / all of them (s1: same cluster; datasketch: the
variant in the base's query result or back); precision = found pairs (planted or not) whose exact Jaccard >= t /
all found pairs; `fp_distinct` = found pairs of two distinct real texts (no planted relation) below t. Also listed:
s1 with datasketch's bands (`lsh_objective="candidates"`) and the old fixed 16 × 8. Signature rates are CPU time of
this process (numpy single-threaded; pin with `taskset -c 1` for one core).

`scaling` and `scale` run `dedup_partitions` on a `distributed.LocalCluster(processes=True, threads_per_worker=1)`.
`scale` samples, every 0.1 s with psutil, the summed RSS of this process (client + scheduler, which LocalCluster
runs in-process) and all of its children (nannies + workers) and reports the peak of the sum. Summed RSS counts
shared pages (libraries) once per process, so it over-states the real footprint slightly. Each command prints one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from s1data.dedup import DedupConfig, dedup_partitions, minhash_signatures, near_duplicate_clusters  # noqa: E402
from s1data.dedup.evaluate import cluster_pairs, jaccard, plant_pairs, shingle_set  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)

VOCAB = np.array([f"w{i}" for i in range(50_000)], dtype=object)
EXACT_SHARE, NEAR_SHARE = 0.05, 0.05


def original_text(s: int) -> str:
    rng = np.random.default_rng(s)
    return " ".join(VOCAB[rng.integers(0, len(VOCAB), int(rng.integers(150, 451)))].tolist())


def plan(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kind, source, doc number) per position: kind 0 original, 1 exact copy, 2 near copy of original `source`."""
    rng = np.random.default_rng(seed)
    n_exact, n_near = int(n * EXACT_SHARE), int(n * NEAR_SHARE)
    n_orig = n - n_exact - n_near
    kind = np.concatenate([np.zeros(n_orig, np.int8), np.ones(n_exact, np.int8), np.full(n_near, 2, np.int8)])
    source = np.concatenate([np.arange(n_orig), rng.choice(n_orig, n_exact + n_near, replace=False)])
    order = rng.permutation(n)
    return kind[order], source[order], rng.permutation(n)


def make_text(kind: int, source: int) -> str:
    text = original_text(int(source))
    if kind == 1:
        return text.upper().replace(" ", ", ", 3) + " !"
    if kind == 2:
        words = text.split()
        rng = random.Random(int(source))
        for i in rng.sample(range(len(words)), max(1, len(words) // 100)):
            words[i] = f"near{rng.randrange(10**9)}"
        return " ".join(words)
    return text


def write_partition(args) -> str:
    path, kind, source, number = args
    texts = [make_text(k, s) for k, s in zip(kind.tolist(), source.tolist())]
    ids = [f"d{x:09d}" for x in number.tolist()]
    pq.write_table(pa.table({"doc_id": ids, "text": texts, "kind": kind}), path)
    return path


def generate(root: Path, n: int, partitions: int, procs: int = 2) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    kind, source, number = plan(n)
    bounds = np.linspace(0, n, partitions + 1).astype(int)
    jobs = [(str(root / f"part-{p:04d}.parquet"), kind[a:b], source[a:b], number[a:b])
            for p, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    with ProcessPoolExecutor(procs) as pool:
        return list(pool.map(write_partition, jobs))


def planted(n: int) -> dict:
    return {"dedup_exact": int(n * EXACT_SHARE), "dedup_near_duplicate": int(n * NEAR_SHARE)}


class RssSampler(threading.Thread):
    """Peak of the summed RSS of this process and all its descendants, sampled every `period` seconds."""

    def __init__(self, period: float = 0.1):
        super().__init__(daemon=True)
        self.period, self.peak, self.peak_procs, self._done = period, 0, 0, threading.Event()

    def run(self):
        me = psutil.Process()
        while not self._done.is_set():
            total, procs = 0, 0
            for p in [me] + me.children(recursive=True):
                try:
                    total += p.memory_info().rss
                    procs += 1
                except psutil.Error:
                    pass
            if total > self.peak:
                self.peak, self.peak_procs = total, procs
            time.sleep(self.period)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def bench_signatures(docs: int, repeat: int = 3) -> dict:
    kind, source, _ = plan(docs)
    texts = [make_text(k, s) for k, s in zip(kind.tolist(), source.tolist())]
    minhash_signatures(texts[:100])
    best_cpu, best_wall = 0.0, 0.0
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        minhash_signatures(texts)
        best_cpu = max(best_cpu, docs / (time.process_time() - c))
        best_wall = max(best_wall, docs / (time.perf_counter() - w))
    return {"bench": "signatures", "docs": docs, "mean_words": float(np.mean([len(t.split()) for t in texts])),
            "docs_per_cpu_s": round(best_cpu), "docs_per_wall_s": round(best_wall)}


def run_cluster(paths: list[str], out: Path, workers: int, num_buckets: int, sample: bool = False) -> dict:
    from distributed import Client, LocalCluster

    sampler = RssSampler() if sample else None
    if sampler:
        sampler.start()
    t = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        started = time.perf_counter() - t
        t = time.perf_counter()
        summary = dedup_partitions(paths, out, DedupConfig(), client=client, num_buckets=num_buckets)
        wall = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    result = {"workers": workers, "cluster_start_s": round(started, 1), "dedup_wall_s": round(wall, 1),
              "steps_s": {k: round(v, 1) for k, v in summary["seconds"].items()},
              "task_cpu_s": {k: round(v, 1) for k, v in summary["task_cpu_s"].items()},
              "found": {k: summary[k] for k in ("kept", "dedup_exact", "dedup_near_duplicate")},
              "band_candidates": summary["band_candidates"], "hash_collisions": summary["hash_collisions"]}
    if sampler:
        result["peak_rss_gib"] = round(sampler.stop() / 2**30, 3)
        result["processes_at_peak"] = sampler.peak_procs
    return result


def bench_scaling(docs: int, partitions: int, tmp: Path) -> dict:
    t = time.perf_counter()
    paths = generate(tmp / "in", docs, partitions)
    gen = time.perf_counter() - t
    runs = [run_cluster(paths, tmp / f"out{w}", w, num_buckets=16) for w in (1, 2, 1, 2)]  # interleaved: load drifts
    best = {w: min((r for r in runs if r["workers"] == w), key=lambda r: r["dedup_wall_s"]) for w in (1, 2)}
    sig = {w: best[w]["steps_s"]["signatures_s"] for w in (1, 2)}
    return {"bench": "scaling", "docs": docs, "partitions": partitions, "generate_s": round(gen, 1),
            "planted": planted(docs), "runs": runs,
            "speedup_total": round(best[1]["dedup_wall_s"] / best[2]["dedup_wall_s"], 2),
            "speedup_signatures": round(sig[1] / sig[2], 2), "load_avg": os.getloadavg()}


def bench_scale(docs: int, partitions: int, workers: int, tmp: Path) -> dict:
    t = time.perf_counter()
    paths = generate(tmp / "in", docs, partitions)
    gen = time.perf_counter() - t
    size = sum(os.path.getsize(p) for p in paths)
    result = run_cluster(paths, tmp / "out", workers, num_buckets=32, sample=True)
    return {"bench": "scale", "docs": docs, "partitions": partitions, "input_gib": round(size / 2**30, 2),
            "generate_s": round(gen, 1), "planted": planted(docs), **result, "load_avg": os.getloadavg()}


def load_real_texts(data: Path = DATA) -> tuple[list[str], list[str]]:
    """(extraction-dev articleBody texts in id order, science-dev texts in file order)."""
    import gzip

    gt = json.loads((data / "extraction-dev" / "ground-truth.json").read_text())
    articles = [gt[k]["articleBody"] for k in sorted(gt)]
    with gzip.open(data / "science-dev" / "docs.jsonl.gz", "rt") as f:
        science = [json.loads(line)["text"] for line in f]
    return articles, science


def recall_corpus(bases: int, seed: int) -> tuple[list[str], list[dict]]:
    """All real texts, then one planted variant per base (all articles + `bases` science paragraphs >= 50 words)."""
    articles, science = load_real_texts()
    texts = articles + science
    rng = random.Random(seed)
    long_science = [len(articles) + i for i, t in enumerate(science) if len(t.split()) >= 50]
    base_rows = list(range(len(articles))) + sorted(rng.sample(long_science, min(bases, len(long_science))))
    vocab_rows = rng.sample(range(len(texts)), 500)
    vocab = [w for r in vocab_rows for w in texts[r].split()]
    variants, records = plant_pairs(texts, base_rows, vocab, seed=seed)
    for r in records:
        r["variant"] += len(texts)
    return texts + variants, records


def _datasketch_pairs(minhashes, threshold: float) -> tuple[set, tuple[int, int]]:
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=len(minhashes[0].hashvalues))
    with lsh.insertion_session() as session:
        for i, m in enumerate(minhashes):
            session.insert(i, m, check_duplication=False)
    pairs = {(min(i, j), max(i, j)) for i, m in enumerate(minhashes) for j in lsh.query(m) if j != i}
    return pairs, (lsh.b, lsh.r)


def _scores(pairs: set, planted: list[dict], texts: list[str], t: float, sims: dict) -> dict:
    above = [(r["base"], r["variant"]) for r in planted if r["jaccard"] >= t]
    related = {(r["base"], r["variant"]) for r in planted}
    for pr in pairs:
        if pr not in sims:
            sims[pr] = jaccard(texts[pr[0]], texts[pr[1]])
    good = sum(1 for pr in pairs if sims[pr] >= t)
    return {"recall": round(sum(1 for pr in above if pr in pairs) / max(len(above), 1), 4),
            "precision": round(good / len(pairs), 4) if pairs else None,
            "found_pairs": len(pairs), "planted_at_or_above": len(above),
            "fp_distinct": sum(1 for pr in pairs if pr not in related and sims[pr] < t),
            "fp_planted_below": sum(1 for pr in pairs if pr in related and sims[pr] < t)}


def bench_recall(bases: int, seed: int) -> dict:
    from datasketch import MinHash

    load = [os.getloadavg()[0]]
    t = time.perf_counter()
    texts, planted = recall_corpus(bases, seed)
    build_s = time.perf_counter() - t
    ids = [f"d{i:06d}" for i in range(len(texts))]
    minhash_signatures(texts[:200])
    c = time.process_time()
    sig = minhash_signatures(texts, DedupConfig())
    s1_cpu = time.process_time() - c
    c = time.process_time()
    shingles = [[b" ".join(sh) for sh in shingle_set(x)] for x in texts]  # the same shingles s1 hashes
    ds = list(MinHash.bulk(shingles, num_perm=128, seed=1))
    ds_cpu = time.process_time() - c
    sims: dict = {}
    rows = []
    for th in THRESHOLDS:
        row = {"threshold": th}
        for name, cfg in (("s1", DedupConfig(threshold=th)),
                          ("s1_datasketch_bands", DedupConfig(threshold=th, lsh_objective="candidates")),
                          ("s1_fixed_16x8", DedupConfig(threshold=th, bands=16))):
            c = time.process_time()
            clusters = near_duplicate_clusters(ids, sig, cfg)
            row[name] = {"bands_rows": list(cfg.lsh_bands_rows), "cluster_cpu_s": round(time.process_time() - c, 2),
                         **_scores(cluster_pairs(clusters), planted, texts, th, sims)}
        c = time.process_time()
        pairs, br = _datasketch_pairs(ds, th)
        row["datasketch"] = {"bands_rows": list(br), "lsh_cpu_s": round(time.process_time() - c, 2),
                             **_scores(pairs, planted, texts, th, sims)}
        rows.append(row)
        load.append(os.getloadavg()[0])
    jac = np.array([r["jaccard"] for r in planted])
    return {"bench": "recall", "docs": len(texts), "planted_pairs": len(planted), "build_s": round(build_s, 1),
            "planted_jaccard_q10_q50_q90": np.quantile(jac, [0.1, 0.5, 0.9]).round(3).tolist(),
            "planted_by_kind": dict(sorted(Counter(r["kind"] for r in planted).items())),
            "signatures_docs_per_cpu_s": {"s1": round(len(texts) / s1_cpu),
                                          "datasketch_bulk": round(len(texts) / ds_cpu)},
            "mean_words": round(float(np.mean([len(x.split()) for x in texts])), 1),
            "thresholds": rows, "load_avg_1min": load}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bench", choices=["signatures", "scaling", "scale", "recall"])
    ap.add_argument("--docs", type=int)
    ap.add_argument("--partitions", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bases", type=int, default=2000, help="recall: science paragraphs given a planted variant")
    ap.add_argument("--seed", type=int, default=0, help="recall: seed of the bases, targets and edits")
    ap.add_argument("--tmp", default=None, help="scratch folder (default: a temporary folder, removed)")
    a = ap.parse_args()
    tmp = Path(a.tmp or tempfile.mkdtemp(prefix="web_dedup_"))
    try:
        if a.bench == "signatures":
            r = bench_signatures(a.docs or 20_000)
        elif a.bench == "recall":
            r = bench_recall(a.bases, a.seed)
        elif a.bench == "scaling":
            r = bench_scaling(a.docs or 100_000, a.partitions or 20, tmp)
        else:
            r = bench_scale(a.docs or 1_000_000, a.partitions or 100, a.workers, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
