"""Scoring main-content extraction against must-have / must-not-have snippets (trafilatura's evaluation scheme).

A kept must-have snippet is a true positive, a dropped one a false negative; a kept must-not-have snippet is a false
positive, a dropped one a true negative. precision = TP/(TP+FP), recall = TP/(TP+FN), micro-averaged over pages.
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
