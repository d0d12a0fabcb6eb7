"""Per-document CPU of the corpus stages, in this process (no Prefect, no Dask), and a decision snapshot to compare
before/after a speed change.

    # profile curate + tokenize on a web_pages folder (e.g. one written by benchmarks/corpus_scale.py):
    python benchmarks/profile_corpus.py curate --pages HOME/artifacts/web_pages/FP --out /tmp/prof --profile
    # the same on real labelled data (science-dev texts, extraction-dev pages through the extractor):
    python benchmarks/profile_corpus.py curate --real --out /tmp/prof-real
    # compare two snapshots (kept/excluded docs and reasons, science labels/scores, dedup clusters, token ids):
    python benchmarks/profile_corpus.py compare /tmp/before /tmp/after

`curate` writes OUT/snapshot.json (the decisions, hashed per row) and OUT/times.json (process CPU seconds per
stage: curate_corpus with client=None, tokenizer training on the curated sample, shard writing), and with
`--profile` OUT/<stage>.prof + a text summary of the top functions by cumulative and own time.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import hashlib
import io
import json
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def _real_pages(out: Path) -> Path:
    """A web_pages-like parquet of real labelled data: extraction-dev pages through s1's extractor (URL domains
    from the page names) + science-dev texts as web documents."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from s1data.web.extractor import extract_main_text

    rows = {"doc_id": [], "source_uri": [], "source_sha256": [], "source_kind": [], "text": [], "domain": []}

    def add(key: str, text: str, domain: str) -> None:
        rows["doc_id"].append(hashlib.sha256(key.encode()).hexdigest()[:32])
        rows["source_uri"].append(key)
        rows["source_sha256"].append(hashlib.sha256(text.encode("utf-8", "replace")).hexdigest())
        rows["source_kind"].append("web")
        rows["text"].append(text)
        rows["domain"].append(domain)

    for i, p in enumerate(sorted((SHARED / "extraction-dev" / "html").glob("*.html.gz"))):
        html = gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
        text = extract_main_text(html, url=f"https://site{i % 40:02d}.example.org/{p.name}")
        add(f"extraction-dev/{p.name}", text or "", f"site{i % 40:02d}.example.org")
    with gzip.open(SHARED / "science-dev" / "docs.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            d = json.loads(line)
            add(f"science-dev/{i}", d["text"], f"sci{i % 40:02d}.example.org")
    folder = out / "real_pages"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), folder / "part-00000.parquet")
    return folder


def _cpu() -> float:
    return time.process_time()


def _profiled(name: str, out: Path, profile: bool, fn, *args, **kw):
    t = _cpu()
    if profile:
        pr = cProfile.Profile()
        res = pr.runcall(fn, *args, **kw)
        pr.dump_stats(str(out / f"{name}.prof"))
        s = io.StringIO()
        st = pstats.Stats(pr, stream=s)
        st.sort_stats("cumulative").print_stats(45)
        st.sort_stats("tottime").print_stats(35)
        (out / f"{name}.txt").write_text(s.getvalue())
    else:
        res = fn(*args, **kw)
    return res, _cpu() - t


def _h(*vals) -> str:
    return hashlib.sha256(json.dumps(vals, default=str).encode()).hexdigest()[:16]


def curate_cmd(a) -> None:
    import pyarrow.parquet as pq

    from s1data import parts
    from s1data.curate import CurateConfig, curate_corpus, input_files

    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pages = Path(a.pages) if a.pages else _real_pages(out)
    cfg = CurateConfig()
    dirs = {k: str(out / k) for k in ("curated", "curation_exclusions", "web_domain_decisions")}
    for d in dirs.values():
        Path(d).mkdir(parents=True, exist_ok=True)
    t_imp = _cpu()
    inputs = input_files({"web_pages": str(pages)})
    times = {}
    funnel, times["curate"] = _profiled("curate", out, a.profile, curate_corpus, inputs, dirs, str(out / "scratch"),
                                        cfg, client=None)
    n_docs = funnel["input"]

    # tokenize: train on the bounded sample, then write the shards of every partition
    from s1data.shards import ShardConfig, plan_partitions
    from s1data.shards.writer import write_partition_at
    from s1data.tokenizer import TokenizerConfig, train_tokenizer
    from s1data.tokenizer.sample import iter_sample_texts

    tcfg = TokenizerConfig(vocab_size=8000)

    def train():
        texts = iter_sample_texts(dirs["curated"], tcfg.max_training_texts or 2**62, tcfg.max_training_chars,
                                  tcfg.sample_seed)
        return train_tokenizer(texts, out / "tokenizer", tcfg)

    _, times["tokenizer_train"] = _profiled("tokenizer_train", out, a.profile, train)
    scfg = ShardConfig()

    def shards():
        res = []
        for p in plan_partitions(dirs["curated"], scfg):
            part = {k: p[k] for k in ("index", "key", "start", "stop", "max_tokens")}
            res.append(write_partition_at(dirs["curated"], part, str(out / "tokenizer"),
                                          str(out / "shards" / p["key"]), scfg, 0))
        return res

    _, times["shards"] = _profiled("shards", out, a.profile, shards)

    # the snapshot: every decision, hashed per row
    snap: dict = {"funnel": {k: funnel[k] for k in ("input", "after_domains", "after_quality", "kept",
                                                     "exclusion_reasons", "domains", "domain_decisions")}}
    cur = [pq.read_table(f) for f in sorted(Path(dirs["curated"]).glob("*.parquet"))]
    rows = {}
    for t in cur:
        cols = [c for c in t.column_names if c != "text"]
        for r in t.select(cols).to_pylist():
            rows[r["doc_id"]] = _h(r)
    snap["curated"] = rows
    ex = {}
    for f in sorted(Path(dirs["curation_exclusions"]).glob("*.parquet")):
        for r in pq.read_table(f).select(["doc_id", "filter", "reason"]).to_pylist():
            ex.setdefault(r["doc_id"], []).append(f"{r['filter']}:{r['reason']}")
    snap["excluded"] = {k: sorted(v) for k, v in ex.items()}
    snap["decisions"] = pq.read_table(Path(dirs["web_domain_decisions"]) / "decisions.parquet").to_pylist()
    toks = hashlib.sha256()
    n_tok = 0
    for f in sorted((out / "shards").rglob("*.parquet")):
        t = pq.read_table(f)
        for c in t.column_names:
            toks.update(json.dumps(t.column(c).to_pylist(), default=str).encode())
        n_tok += t.num_rows
    snap["token_shards"] = {"rows": n_tok, "sha256": toks.hexdigest()}
    snap["tokenizer_vocab_sha256"] = hashlib.sha256(
        (out / "tokenizer" / "tokenizer.json").read_bytes()).hexdigest() \
        if (out / "tokenizer" / "tokenizer.json").exists() else None
    (out / "snapshot.json").write_text(json.dumps(snap, indent=0, default=str))
    per_doc = {k: round(1000 * v / max(n_docs, 1), 3) for k, v in times.items()}
    res = {"docs": n_docs, "kept": funnel["kept"], "cpu_s": {k: round(v, 2) for k, v in times.items()},
           "cpu_ms_per_doc": per_doc, "curate_seconds": funnel["seconds"], "load_avg": os.getloadavg(),
           "start_cpu_s": round(t_imp, 2)}
    (out / "times.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


def compare_cmd(a) -> None:
    x = json.loads((Path(a.before) / "snapshot.json").read_text())
    y = json.loads((Path(a.after) / "snapshot.json").read_text())
    bad = 0
    for k in x:
        if x[k] != y.get(k):
            bad += 1
            if isinstance(x[k], dict):
                diff = [i for i in set(x[k]) | set(y.get(k, {})) if x[k].get(i) != y.get(k, {}).get(i)]
                print(f"DIFF {k}: {len(diff)} keys differ, e.g. {diff[:5]}")
            else:
                print(f"DIFF {k}")
        else:
            print(f"same {k} ({len(x[k]) if hasattr(x[k], '__len__') else x[k]})")
    print("IDENTICAL" if not bad else f"{bad} sections differ")
    sys.exit(1 if bad else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curate")
    c.add_argument("--pages", help="a web_pages folder (parquet parts)")
    c.add_argument("--real", action="store_true", help="real labelled data instead (science-dev + extraction-dev)")
    c.add_argument("--out", required=True)
    c.add_argument("--profile", action="store_true")
    c.set_defaults(fn=curate_cmd)
    k = sub.add_parser("compare")
    k.add_argument("before")
    k.add_argument("after")
    k.set_defaults(fn=compare_cmd)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
