"""Peak memory of the dedup driver (steps 2-4 of s1data.dedup.parallel) before and after a change (--before-ref).

    nice -n 5 .venv/bin/python benchmarks/dedup_driver_memory.py --docs 1000000 --parts 50 --before-ref 0c1481f \
        --out benchmarks/results/dedup_driver_memory.json

Issue 17 / README "Memory": the one global step whose driver memory grew with the corpus was dedup: the driver
concatenated every partition's (doc_id, exact key), ranked all doc_ids and held N-sized arrays (rank, dead,
representative, cluster ids). Then (0c1481f -> 1290dad) exact keys were shuffled by key bucket like the LSH bands, and
the driver held only the documents in some duplicate relation; now (after 1290dad) the connected components run in
rounds of tasks (s1data/dedup/components.py) and the driver gets counts only.

What runs: --parts partitions of short documents (real sentences of ../shared/data/science-dev, so the MinHash and
exact keys are real), with --dup-share of them planted as exact or near copies of another document; signed once
(step 1, the same files for both versions); then, each in a fresh process with a 2-worker Dask LocalCluster (the
driver's own RSS is what is measured, ru_maxrss of the process that calls `assign_partitions`): "before" with the
code of --before-ref (a detached git worktree), "after" with this checkout. Checked: the per-partition assignments
(cluster_id, reason) are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from before_after import checkout, finish, run_child, science_dev_texts

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from distributed import Client, LocalCluster
from s1data.dedup import DedupConfig
from s1data.dedup.parallel import assign_partitions
sig_dirs = json.loads(open(sys.argv[2]).read())
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
        Client(cluster) as client:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    res = assign_partitions(sig_dirs, sys.argv[3], DedupConfig(), client, int(sys.argv[4]))
    wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_before_call_mib": base, "docs": res["docs"], "kept": res["kept"],
                  "dedup_exact": res["dedup_exact"], "dedup_near_duplicate": res["dedup_near_duplicate"],
                  "duplicate_nodes": res.get("duplicate_nodes"),
                  "component_rounds": res.get("component_rounds"), "assign_sha256": res["assign_sha256"]}))
"""


def sentences() -> list[str]:
    return [s for t in science_dev_texts() for s in re.split(r"(?<=[.!?])\s+", t) if 40 < len(s) < 300]


def build(folder: Path, docs: int, parts: int, dup_share: float, seed: int) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sents, rng = sentences(), random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per, made, paths = docs // parts, [], []
    for p in range(parts):
        ids, texts = [], []
        for i in range(per):
            if made and rng.random() < dup_share:
                src = rng.choice(made)
                text = src if rng.random() < 0.5 else src + " " + rng.choice(sents)  # exact or near copy
            else:
                text = " ".join(rng.choice(sents) for _ in range(rng.randint(2, 5)))
                if len(made) < 50_000:
                    made.append(text)
            ids.append(f"doc-{rng.randrange(10**12):012d}-{p}-{i}")
            texts.append(text)
        path = folder / f"part-{p:05d}.parquet"
        pq.write_table(pa.table({"doc_id": ids, "text": texts}), path)
        paths.append(str(path))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=50)
    ap.add_argument("--dup-share", type=float, default=0.05)
    ap.add_argument("--buckets", type=int, default=32)
    ap.add_argument("--before-ref", default="0c1481f")
    ap.add_argument("--work", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from s1data.dedup import DedupConfig
    from s1data.dedup.parallel import sign_partition

    work = Path(a.work or tempfile.mkdtemp(prefix="dedupmem-"))
    data = work / f"docs-{a.docs}-{a.parts}"
    sig_list = data / "sig_dirs.json"
    t0 = time.perf_counter()
    if not sig_list.exists():
        paths = build(data / "in", a.docs, a.parts, a.dup_share, a.seed)
        print(f"built {len(paths)} partitions ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
        from concurrent.futures import ProcessPoolExecutor

        dirs = [str(data / "sig" / f"sig-{p:04d}") for p in range(len(paths))]
        with ProcessPoolExecutor(2) as ex:
            list(ex.map(sign_partition, paths, dirs, [DedupConfig()] * len(paths), [a.buckets] * len(paths)))
        sig_list.write_text(json.dumps(dirs))
        print(f"signed ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    before_root = checkout(a.before_ref, work / f"before-{a.before_ref}")
    res = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores", "command": " ".join(sys.argv),
           "docs": a.docs, "parts": a.parts, "dup_share": a.dup_share, "before_ref": a.before_ref}
    for name, root in (("before", before_root), ("after", REPO)):
        res[name] = run_child(root, CHILD, sig_list, work / f"assign-{name}", a.buckets)
        print(name, {k: v for k, v in res[name].items() if k != "assign_sha256"}, file=sys.stderr, flush=True)
    res["identical_assignments"] = res["before"].pop("assign_sha256") == res["after"].pop("assign_sha256")
    finish(res, a.out)


if __name__ == "__main__":
    main()
