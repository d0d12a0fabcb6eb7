"""Science recall on real text: held-out-source F1, purity in a 2 % science mixture, throughput; ours vs fastText.

    .venv/bin/python benchmarks/science_classifier.py [--json OUT] [--folds 0,1,2] [--n-speed 5000]

Data (read from ../shared/data, never copied): science-dev (21,392 real texts labelled by domain or non_science,
12 source repositories), the 181 article pages of extraction-dev (their ground-truth articleBody) and the 25 pages of
html/ (main text by s1data.web.extract_main_text) as general web text that no variant ever trains on.

Splits: GROUP folds by source repository (FOLDS below, fixed before any measurement: each fold holds out one
non-science repository and a mix of science ones). Every document of science-dev is scored once, by models that
never saw its repository; metrics pool those out-of-fold scores. Variants, all on the same splits:

- `ours_seed`        ScienceClassifier via fit_science_model(cfg.seed_path = the training folds as a JSONL seed set,
                     silver_training=False);
- `ours_seed_silver` the same seed set plus the confident silver labels of the user corpus (the held-out texts and the
                     web pages: what the curate flow samples; no gold label of them is used);
- `ours_silver`      silver labels of the user corpus only (a user with no seed set);
- `silver_rules`     the rules alone, with the fixed fallback scoring (silver_scores);
- `fasttext_seed`    fastText supervised (fasttext-numpy2, 1 thread; its tutorial's settings: lr 1.0, 25 epochs,
                     word bigrams) on the same seed set.

Mixture: science purity = share of science among documents scored >= threshold when science is 2 % of the input and
the rest general web and news (the held-out non_science texts + the web pages). `analytic`: purity from the pooled
held-out rates, TPR·0.02 / (TPR·0.02 + FPR·0.98); `corpus`: a concrete corpus per fold (its general texts + web
pages + a deterministic 2 % science sample of its held-out science), where the silver variants are trained on that
corpus (the realistic silver-only case). Both at threshold 0.5 and at the threshold that reaches recall 0.7.
Web pages from popular-science hosts (SCIENCE_NEWS_HOSTS, listed by host before measuring) are counted as general
in `strict` and left out in `clean`.

Independent set (`--indep`, default benchmarks/labels/science_indep.json): 301 real texts from sources science-dev does
not have (papers, PubMed abstracts, maths notes, scientific and software docstrings, Python reference, licences, Debian
READMEs, LaTeX manuals), labelled by reading and committed before any model scored them. Every fold's model of every
variant scores them; scores are averaged over the folds, as for the web pages. By default they are part of the user
corpus the silver variants label and train on (as a user's own texts would be: their gold labels are never used);
`--indep-transfer` keeps them out (models from other corpora applied to new sources). Nothing was tuned on them.
`cs` texts (computer science, outside the taxonomy) are reported apart, not in F1.

Throughput: process time of one process (BLAS/OpenMP threads = 1) scoring `--n-speed` real texts (as they are, and
repeated to >= 3000 chars), for ours (`ScienceClassifier.predict`) and fastText (`predict(k=-1)` + score), load
average printed beside it.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

FOLDS = [  # source repositories held out together (fixed before measuring)
    ["mhjabreel/CharCnn_Keras", "openstax/osbooks-chemistry-bundle", "thealphacubicle/NLP-Abstract-Readibility",
     "paleolimbot/physical-geology", "openstax/osbooks-calculus-bundle"],
    ["openstax/osbooks-american-government", "openstax/osbooks-university-physics-bundle",
     "boschresearch/sofc-exp_textmining_resources"],
    ["openstax/osbooks-introduction-business", "clopezvice/ArXiv-Scraper", "openstax/osbooks-microbiology",
     "openstax/osbooks-anatomy-physiology"],
]
SCIENCE_NEWS_HOSTS = ("sciencealert.com", "livescience.com", "space.com", "phys.org", "quantamagazine.org",
                      "spacenews.com", "thespacereview.com", "smithsonianmag.com", "simplyscience.ch",
                      "soundofscience.fr")
VARIANTS = ["ours_seed", "ours_seed_silver", "ours_silver", "silver_rules", "fasttext_seed"]
PREVALENCE = 0.02


def load_science_dev() -> list[dict]:
    rows = [json.loads(line) for line in gzip.open(DATA / "science-dev" / "docs.jsonl.gz", "rt")]
    for r in rows:
        r["repo"] = r["source"].split(":")[0]
        r["science"] = r["label"] != "non_science"
    return rows


def load_web() -> list[dict]:
    from s1data.web import extract_main_text

    gt = json.loads((DATA / "extraction-dev" / "ground-truth.json").read_text())
    out = [{"text": v["articleBody"], "repo": "web:extraction-dev", "url": v["url"]} for v in gt.values()
           if v["articleBody"].strip()]
    for p in sorted((DATA / "html").glob("*.html")):
        text = extract_main_text(p.read_bytes())
        if text and text.strip():
            out.append({"text": text, "repo": "web:html", "url": p.name})
    for r in out:
        r["science"] = False
        r["science_news"] = any(h in r["url"] for h in SCIENCE_NEWS_HOSTS)
        r["label"] = "non_science"
    return out


def load_indep(path: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT / "benchmarks" / "labels"))
    from science_indep_texts import load_indep as _load

    rows, missing = _load(path)
    if missing:
        print(f"independent set: {len(missing)} labelled texts not found with their sha256 (a package version "
              f"changed?), left out: {missing[:5]}", file=sys.stderr)
    return rows


def write_seed(rows: list[dict], path: Path) -> None:
    with gzip.open(path, "wt") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "label": r["label"]}) + "\n")


def _ft_clean(t: str) -> str:
    return re.sub(r"\s+", " ", t.lower())


def fasttext_fit(rows: list[dict], tmp: Path):
    import fasttext

    p = tmp / "ft_train.txt"
    with open(p, "w") as f:
        for r in rows:
            lab = "none" if r["label"] == "non_science" else r["label"]
            f.write(f"__label__{lab} {_ft_clean(r['text'])}\n")
    # the settings of fastText's text-classification tutorial (lr 1.0, 25 epochs, word bigrams); 1 thread
    return fasttext.train_supervised(str(p), lr=1.0, epoch=25, wordNgrams=2, thread=1, verbose=0, seed=0)


def fasttext_scores(model, texts: list[str]) -> np.ndarray:
    labs, probs = model.predict([_ft_clean(t) for t in texts], k=-1)
    return np.array([1.0 - dict(zip(lab, p)).get("__label__none", 0.0) for lab, p in zip(labs, probs)])


def fit_ours(seed_file: Path | None, corpus: list[str], silver: bool):
    import pyarrow as pa

    from s1data.science import ScienceConfig, fit_science_model

    cfg = ScienceConfig(seed_path=str(seed_file) if seed_file else None, silver_training=silver)
    sample = pa.table({"doc_id": [hashlib.sha1(t.encode()).hexdigest() for t in corpus], "text": corpus})
    t0 = time.process_time()
    model, report = fit_science_model(sample, cfg, min_docs=50)
    report["fit_process_s"] = round(time.process_time() - t0, 2)
    return model, report


def score(model, texts: list[str]) -> tuple[np.ndarray, list]:
    d, _, s = model.predict(texts)
    return np.asarray(s, np.float64), d


def prf(gold: np.ndarray, pred: np.ndarray) -> dict:
    tp, fp, fn = int((gold & pred).sum()), int((~gold & pred).sum()), int((gold & ~pred).sum())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-12), 4),
            "tp": tp, "fp": fp, "fn": fn}


def threshold_for_recall(gold: np.ndarray, s: np.ndarray, recall: float) -> float:
    pos = np.sort(s[gold])[::-1]
    return float(pos[min(len(pos) - 1, int(np.ceil(recall * len(pos))) - 1)]) if len(pos) else 1.0


def mixture_purity(tpr: float, fpr: float) -> float:
    return tpr * PREVALENCE / max(tpr * PREVALENCE + fpr * (1 - PREVALENCE), 1e-12)


def indep_report(indep: list[dict], s: np.ndarray, th: float) -> dict:
    """P/R/F1 on the independent set (science vs non_science; `cs` apart), per source and per label."""
    lab = np.array([r["label"] for r in indep])
    m = lab != "cs"
    gold = np.array([r["science"] for r in indep])
    out = {"n": int(m.sum()), "science": int((gold & m).sum()), **prf(gold[m], s[m] >= th),
           "cs_scored_science": f"{int((s[~m] >= th).sum())}/{int((~m).sum())}"}
    per = {}
    for src in sorted({r["source"] for r in indep}):
        k = np.array([r["source"] == src for r in indep]) & m
        if not k.any():
            continue
        g = gold[k]
        per[src] = {"n": int(k.sum()), "science": int(g.sum()),
                    "recall": round(float((s[k][g] >= th).mean()), 4) if g.any() else None,
                    "false_positive_rate": round(float((s[k][~g] >= th).mean()), 4) if (~g).any() else None}
    out["per_source"] = per
    out["per_label_recall"] = {la: round(float((s[lab == la] >= th).mean()), 4)
                               for la in sorted(set(lab) - {"non_science", "cs"})}
    return out


def main() -> None:
    from s1data.science import silver_scores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--folds", default=",".join(str(i) for i in range(len(FOLDS))))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--n-speed", type=int, default=5000)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--indep", type=Path, default=ROOT / "benchmarks" / "labels" / "science_indep.json",
                    help="independent labelled set (ids + labels; texts rebuilt from installed files); '' skips it")
    ap.add_argument("--indep-transfer", dest="indep_in_corpus", action="store_false",
                    help="keep the independent texts out of the silver-labelled user corpus (default: in it)")
    args = ap.parse_args()
    variants = args.variants.split(",")
    folds = [int(f) for f in args.folds.split(",")]
    t_start = time.time()
    rows = load_science_dev()
    web = load_web()
    indep = load_indep(args.indep) if str(args.indep) not in ("", ".") else []
    indep_texts = [r["text"] for r in indep]
    tmp = Path(tempfile.mkdtemp(prefix="s1_science_bench_"))
    res: dict = {"load_avg_start": os.getloadavg(), "threshold": args.threshold, "folds": FOLDS, "fits": {},
                 "indep_in_corpus": args.indep_in_corpus, "indep_n": len(indep)}

    # out-of-fold scores per variant: science-dev rows by index; web pages once per fold (averaged in reports)
    oof = {v: np.full(len(rows), np.nan) for v in variants}
    oof_dom = {v: [None] * len(rows) for v in variants}
    web_scores = {v: [] for v in variants}
    indep_scores = {v: [] for v in variants}
    mix = {v: {"gold": [], "score": [], "news": []} for v in variants}
    for k in folds:
        held = set(FOLDS[k])
        train = [r for r in rows if r["repo"] not in held]
        test_idx = [i for i, r in enumerate(rows) if r["repo"] in held]
        test_texts = [rows[i]["text"] for i in test_idx]
        web_texts = [w["text"] for w in web]
        seed_file = tmp / f"seed_fold{k}.jsonl.gz"
        write_seed(train, seed_file)
        # the concrete 2 % mixture corpus of this fold: its general texts + web pages + a 2 % science sample
        gen_idx = [i for i in test_idx if not rows[i]["science"]]
        sci_idx = sorted((i for i in test_idx if rows[i]["science"]),
                         key=lambda i: hashlib.sha256(rows[i]["text"].encode()).digest())
        n_gen = len(gen_idx) + len(web)
        mix_sci = sci_idx[:round(n_gen * PREVALENCE / (1 - PREVALENCE))]
        mix_texts = [rows[i]["text"] for i in gen_idx] + web_texts + [rows[i]["text"] for i in mix_sci]
        mix_gold = np.array([False] * n_gen + [True] * len(mix_sci))
        mix_news = np.array([False] * len(gen_idx) + [w["science_news"] for w in web] + [False] * len(mix_sci))
        for v in variants:
            t0 = time.time()
            if v == "silver_rules":
                doms, _, s = silver_scores(test_texts)
                s_web = silver_scores(web_texts)[2]
                s_ind = silver_scores(indep_texts)[2] if indep else np.zeros(0)
                pos = {i: j for j, i in enumerate(test_idx)}
                s_mix = np.concatenate([s[[pos[i] for i in gen_idx]], s_web, s[[pos[i] for i in mix_sci]]])
            elif v == "fasttext_seed":
                m = fasttext_fit(train, tmp)
                s, doms = fasttext_scores(m, test_texts), [None] * len(test_texts)
                s_web, s_mix = fasttext_scores(m, web_texts), fasttext_scores(m, mix_texts)
                s_ind = fasttext_scores(m, indep_texts) if indep else np.zeros(0)
            else:
                seed = None if v == "ours_silver" else seed_file
                silver = v != "ours_seed"
                model, rep = fit_ours(seed, test_texts + web_texts + (indep_texts if args.indep_in_corpus else []),
                                      silver)
                res["fits"][f"{v}/fold{k}"] = rep
                if model is None:
                    doms, _, s = silver_scores(test_texts)
                    s_web = silver_scores(web_texts)[2]
                    s_ind = silver_scores(indep_texts)[2] if indep else np.zeros(0)
                else:
                    s, doms = score(model, test_texts)
                    s_web = score(model, web_texts)[0]
                    s_ind = score(model, indep_texts)[0] if indep else np.zeros(0)
                if silver:  # the user corpus is the 2 % mixture: silver labels come from it
                    model_m, rep_m = fit_ours(seed, mix_texts, silver)
                    res["fits"][f"{v}/fold{k}/mixture"] = rep_m
                    s_mix = score(model_m, mix_texts)[0] if model_m is not None else silver_scores(mix_texts)[2]
                else:
                    s_mix = score(model, mix_texts)[0]
            for j, i in enumerate(test_idx):
                oof[v][i] = s[j]
                oof_dom[v][i] = doms[j]
            web_scores[v].append(np.asarray(s_web))
            indep_scores[v].append(np.asarray(s_ind))
            mix[v]["gold"].append(mix_gold)
            mix[v]["score"].append(np.asarray(s_mix))
            mix[v]["news"].append(mix_news)
            print(f"fold {k} {v}: {time.time() - t0:.1f}s wall", file=sys.stderr, flush=True)

    done = np.flatnonzero(~np.isnan(oof[variants[0]]))
    gold = np.array([rows[i]["science"] for i in done])
    dom_map = {"life": "life_science", "earth": "earth_science"}
    th = args.threshold
    res["heldout_sources"] = {}
    res["mixture"] = {}
    for v in variants:
        s = oof[v][done]
        out = {"overall": prf(gold, s >= th)}
        per_src = {}
        for repo in sorted({rows[i]["repo"] for i in done}):
            m = np.array([rows[i]["repo"] == repo for i in done])
            g = gold[m]
            pred = s[m] >= th
            per_src[repo] = ({"n": int(m.sum()), "recall": round(float(pred.mean()), 4)} if g.all() else
                             {"n": int(m.sum()), "false_positive_rate": round(float(pred.mean()), 4)})
        out["per_source"] = per_src
        per_dom = {}
        for lab in sorted({rows[i]["label"] for i in done} - {"non_science"}):
            m = np.array([rows[i]["label"] == lab for i in done])
            doms = [oof_dom[v][i] for i in done[m]]
            ok = s[m] >= th
            per_dom[lab] = {"n": int(m.sum()), "recall": round(float(ok.mean()), 4)}
            if any(d is not None for d in doms):
                per_dom[lab]["domain_accuracy_of_recalled"] = round(
                    sum(d == dom_map.get(lab, lab) for d, o in zip(doms, ok) if o) / max(int(ok.sum()), 1), 4)
        out["per_domain"] = per_dom
        ws = np.mean(web_scores[v], axis=0)
        news = np.array([w["science_news"] for w in web])
        out["web_pages"] = {"n": len(web), "fpr_strict": round(float((ws >= th).mean()), 4),
                            "fpr_clean": round(float((ws[~news] >= th).mean()), 4),
                            "science_news_pages_scored_science": f"{int((ws[news] >= th).sum())}/{int(news.sum())}"}
        res["heldout_sources"][v] = out
        # mixture, analytic: held-out science TPR, general FPR (held-out non_science + web pages)
        gen_s = np.concatenate([s[~gold], ws])
        gen_clean = np.concatenate([s[~gold], ws[~news]])
        t70 = threshold_for_recall(gold, s, 0.7)
        ana = {}
        for name, t in (("at_threshold", th), ("at_recall_0.7", t70)):
            tpr = float((s[gold] >= t).mean())
            ana[name] = {"threshold": round(t, 4), "recall": round(tpr, 4),
                         "purity_strict": round(mixture_purity(tpr, float((gen_s >= t).mean())), 4),
                         "purity_clean": round(mixture_purity(tpr, float((gen_clean >= t).mean())), 4)}
        g = np.concatenate(mix[v]["gold"])
        ms = np.concatenate(mix[v]["score"])
        nw = np.concatenate(mix[v]["news"])
        corp = {"docs": int(len(g)), "science_docs": int(g.sum())}
        for name, t in (("at_threshold", th), ("at_recall_0.7", threshold_for_recall(g, ms, 0.7))):
            kept = ms >= t
            corp[name] = {"threshold": round(t, 4), "recall": round(float(kept[g].mean()), 4),
                          "purity_strict": round(float(g[kept].mean()) if kept.any() else 0.0, 4),
                          "purity_clean": round(float(g[kept & ~nw].mean()) if (kept & ~nw).any() else 0.0, 4),
                          "kept": int(kept.sum())}
        sweep = {}
        for t in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
            tpr = float((s[gold] >= t).mean())
            sweep[str(t)] = {"heldout_f1": prf(gold, s >= t)["f1"], "recall": round(tpr, 4),
                             "mixture_purity_strict": round(mixture_purity(tpr, float((gen_s >= t).mean())), 4)}
        res["mixture"][v] = {"analytic": ana, "corpus": corp, "threshold_sweep": sweep}
        if indep:
            res.setdefault("independent", {})[v] = indep_report(indep, np.mean(indep_scores[v], axis=0), th)

    # throughput, one process, process time
    if args.n_speed and "ours_seed" in variants:
        from s1data.science import ScienceConfig, fit_science_model
        import pyarrow as pa

        seed_all = tmp / "seed_all.jsonl.gz"
        write_seed(rows, seed_all)
        model, _ = fit_science_model(pa.table({"text": pa.array([], pa.string())}),
                                     ScienceConfig(seed_path=str(seed_all), silver_training=False), min_docs=50)
        ft = fasttext_fit(rows, tmp) if "fasttext_seed" in variants else None
        order = sorted(range(len(rows)), key=lambda i: hashlib.sha256(rows[i]["text"].encode()).digest())
        texts = [rows[i]["text"] for i in order[:args.n_speed]]
        long = [(" ".join([t] * (3000 // max(len(t), 1) + 1)))[:3500] for t in texts]
        speed = {"load_avg": os.getloadavg()}
        for name, tx in (("real_lengths", texts), ("3000_chars", long)):
            entry = {"docs": len(tx), "mean_chars": round(sum(map(len, tx)) / len(tx))}
            for lib, fn in (("ours", lambda x: model.predict(x)), ("fasttext", lambda x: fasttext_scores(ft, x))):
                if lib == "fasttext" and ft is None:
                    continue
                fn(tx[:256])
                best = []
                for _ in range(3):
                    t0 = time.process_time()
                    fn(tx)
                    best.append(time.process_time() - t0)
                entry[f"{lib}_docs_per_s_per_core"] = round(len(tx) / min(best))
            speed[name] = entry
        res["throughput"] = speed
    res["load_avg_end"] = os.getloadavg()
    res["wall_s"] = round(time.time() - t_start, 1)
    text = json.dumps(res, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
