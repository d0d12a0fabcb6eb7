"""Scoring main-content extraction, two ways.

- Snippets (trafilatura's evaluation scheme, `score_page` / `precision_recall_f1`): a kept must-have snippet is a
  true positive, a dropped one a false negative; a kept must-not-have snippet is a false positive, a dropped one a
  true negative. precision = TP/(TP+FP), recall = TP/(TP+FN), micro-averaged over pages.
- Word shingles against a ground-truth text (the Zyte / Scrapinghub article-extraction benchmark's scheme,
  `shingle_match` / `shingle_prf`, data read by `load_article_set`); see the section comment below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_WS = re.compile(r"\s+")


def normalise_for_match(text: str) -> str:
    """Lower-case, soft hyphens and zero-width spaces removed, whitespace collapsed."""
    text = text.replace("\u00ad", "").replace("\u200b", "").replace("\u00a0", " ")
    return _WS.sub(" ", text).strip().lower()


def load_labels(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """{file name: {"with": [...], "without": [...]}} from a labels JSON (`pages` key or top-level mapping)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    pages = data.get("pages", data)
    return {k: v for k, v in pages.items() if not k.startswith("_")}


def score_page(text: str, labels: dict[str, list[str]]) -> dict[str, int]:
    """Counts tp/fn/fp/tn of one extracted text against one page's labels."""
    t = normalise_for_match(text or "")
    counts = {"tp": 0, "fn": 0, "fp": 0, "tn": 0}
    for s in labels.get("with", []):
        counts["tp" if normalise_for_match(s) in t else "fn"] += 1
    for s in labels.get("without", []):
        counts["fp" if normalise_for_match(s) in t else "tn"] += 1
    return counts


def precision_recall_f1(counts: dict[str, int]) -> dict[str, float]:
    """Micro precision / recall / F1 / accuracy from summed counts."""
    tp, fn, fp, tn = counts["tp"], counts["fn"], counts["fp"], counts["tn"]
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    acc = (tp + tn) / max(tp + fn + fp + tn, 1)
    return {"precision": p, "recall": r, "f1": f, "accuracy": acc}


# --- Shingle scoring (the Zyte / Scrapinghub article-extraction benchmark's `evaluate.py`) ----------------------
# Tokens are `\w+` runs (case kept), shingles are 4 consecutive tokens, counted as a multiset. Per page, tp / fp / fn
# are normalised to sum to 1; precision is the mean over pages of the per-page precision (pages with tp + fp > 0),
# recall the mean of the per-page recall (pages with tp + fn > 0), F1 the harmonic mean of the two means (an empty
# output is left out of the precision mean and scores 0 recall). The mean of per-page F1 is reported beside it: it
# punishes a page that goes wrong more directly.

_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> dict[str, int]:
    """Multiset of `n`-token shingles of `text` (a text shorter than n tokens is one shingle; empty text none)."""
    from collections import Counter

    tokens = _TOKEN.findall(text or "")
    if not tokens:
        return {}
    return dict(Counter(" ".join(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))))


def shingle_match(true: str, pred: str, n: int = 4) -> tuple[float, float, float]:
    """(tp, fp, fn) of one page's extracted text `pred` against the ground truth `true`, normalised to sum to 1."""
    t, p = shingles(true, n), shingles(pred, n)
    tp = fp = fn = 0
    for key in t.keys() | p.keys():
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


def _page_precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fp) if tp + fp else 0.0


def _page_recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return tp / (tp + fn) if tp + fn else 0.0


def shingle_prf(pairs) -> dict[str, float]:
    """Benchmark precision / recall / F1 over pages, plus the mean per-page F1, from (true, pred) text pairs."""
    precisions, recalls, page_f1 = [], [], []
    for true, pred in pairs:
        tp, fp, fn = shingle_match(true, pred)
        p, r = _page_precision(tp, fp, fn), _page_recall(tp, fp, fn)
        if tp + fp > 0:
            precisions.append(p)
        if tp + fn > 0:
            recalls.append(r)
        page_f1.append(2 * p * r / (p + r) if p + r else 0.0)
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "mean_page_f1": sum(page_f1) / len(page_f1) if page_f1 else 0.0, "pages": len(page_f1)}


def load_article_set(folder: str | Path) -> dict[str, dict]:
    """{id: {"html": bytes, "articleBody": str, "url": str}} of an article-extraction-benchmark folder
    (`ground-truth.json` + `html/<id>.html.gz`)."""
    import gzip

    folder = Path(folder)
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    out = {}
    for key in sorted(truth):
        path = folder / "html" / f"{key}.html.gz"
        if path.exists():
            out[key] = {"html": gzip.decompress(path.read_bytes()), "articleBody": truth[key].get("articleBody", ""),
                        "url": truth[key].get("url")}
    return out
