"""Science classifier: silver-label → train → held-out P/R, throughput, and what it says about the real HTML pages.

    python benchmarks/science_classifier.py [--n-train 6000] [--n-speed 5000] [--html DIR] [--json OUT]

The training and held-out text is SYNTHETIC (s1data.science.synthetic): its P/R shows agreement with the silver
rules, not real-world accuracy. Throughput: one process, BLAS/OpenMP pinned to one thread, documents of ~3.5k chars
(featurised head: `max_chars` = 3000), hashing + sparse matmul + softmax, i.e. `ScienceClassifier.predict`.
The real pages (../shared/data/html, extracted with s1data.web.extract_main_text) have no gold labels: the script
prints the silver label and the classifier's label per page side by side, and runs domain_decisions over them.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import pyarrow as pa

    from s1data.science import ScienceConfig, science_metrics, silver_label, train_science_classifier
    from s1data.science.synthetic import synthetic_corpus
    from s1data.web import extract_main_text
    from s1data.web.domains import DomainDecisionConfig, domain_decisions

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--n-speed", type=int, default=5000)
    default_html = ROOT.parent / "shared" / "data" / "html"
    ap.add_argument("--html", type=Path,
                    default=default_html if default_html.exists() else Path("/work/shared/data/html"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    texts, _ = synthetic_corpus(args.n_train, science_share=0.5, seed=1)
    docs = pa.table({"doc_id": [f"s{i:06d}" for i in range(len(texts))], "text": texts})
    model, report = train_science_classifier(docs, ScienceConfig())
    res = {"train": {k: v for k, v in report.items() if k != "silver_label_counts"}}

    fresh, gold = synthetic_corpus(3000, science_share=0.5, seed=2, hard_share=0.2)
    d, _, sc = model.predict(fresh)
    res["planted_synthetic"] = science_metrics(gold, d, sc, 0.5)
    sil = [silver_label(t) for t in fresh]
    res["silver_rules_vs_planted"] = science_metrics(gold, [x[0] or "" for x in sil], [x[0] is not None for x in sil],
                                                     0.5)
    mixed, mgold = synthetic_corpus(5000, science_share=0.02, seed=3)
    _, _, msc = model.predict(mixed)
    kept = [g for g, s in zip(mgold, msc) if s >= 0.5]
    res["purity_synthetic"] = {"before": round(sum(g != "none" for g in mgold) / len(mgold), 4),
                               "after": round(sum(g != "none" for g in kept) / max(len(kept), 1), 4),
                               "kept": len(kept)}

    speed_texts = [" ".join([t] * 6) for t in fresh][: args.n_speed]
    model.predict(speed_texts[:256])                                   # warm the power tables
    times = []
    for _ in range(5):                                                  # 2 shared cores here: report the median
        t0 = time.perf_counter()
        model.predict(speed_texts)
        times.append(time.perf_counter() - t0)
    dt = sorted(times)[2]
    res["throughput"] = {"docs": len(speed_texts), "mean_chars": round(sum(map(len, speed_texts)) / len(speed_texts)),
                         "median_seconds": round(dt, 3), "docs_per_s_one_core": round(len(speed_texts) / dt),
                         "docs_per_s_best": round(len(speed_texts) / min(times))}

    pages = []
    for p in sorted(args.html.glob("*.html")):
        text = extract_main_text(p.read_bytes())
        pages.append((p.name, text))
    if pages:
        ptexts = [t for _, t in pages]
        pd, ps, psc = model.predict(ptexts)
        rows = []
        for (name, text), dom, sub, score in zip(pages, pd, ps, psc):
            sd, ss, sconf, ev = silver_label(text)
            rows.append({"page": name, "chars": len(text), "silver": f"{sd}/{ss}" if sd else None,
                         "silver_conf": sconf, "silver_terms": sum(len(v) for v in ev["terms"].values()),
                         "classifier": f"{dom}/{sub}" if score >= 0.5 else None,
                         "science_score": round(float(score), 3)})
        res["real_pages"] = rows
        ptable = pa.table({"doc_id": [n for n, _ in pages], "domain": [n.split(".html")[0].rsplit(".", 1)[0]
                                                                        for n, _ in pages], "text": ptexts})
        dec = domain_decisions(ptable, DomainDecisionConfig(), scorer=model)
        res["real_domain_decisions"] = {r["domain"]: (r["decision"], r["keep_rate"], round(r["mean_science_score"], 3))
                                        for r in dec.to_pylist()}
    print(json.dumps(res, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
