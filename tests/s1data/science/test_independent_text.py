"""Decisions of the science step on real text from sources science-dev does not have (issue 16 part 3, 2026-12-05):
the independent labelled set (benchmarks/labels/science_indep.json, texts rebuilt from installed files) and the
feature choice of the silver-trained classifier, measured on science-dev's held-out sources."""

import gzip
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from s1data.science import (ClassifierConfig, ScienceConfig, fit_science_model, science_columns, science_sample,
                            silver_label)

ROOT = Path(__file__).resolve().parents[3]
LABELS = ROOT / "benchmarks" / "labels" / "science_indep.json"


def _indep_texts(source: str) -> list[tuple[str, str]]:
    """(label, text) of the labelled texts of one source group that are found on this machine (sha256 checked)."""
    sys.path.insert(0, str(ROOT / "benchmarks" / "labels"))
    from science_indep_texts import SOURCES, _sha

    want = {v["id"]: v for v in json.loads(LABELS.read_text())["labels"] if v["id"].startswith(source + ":")}
    got = dict(SOURCES[source]())
    out = [(v["label"], got[i]) for i, v in want.items() if i in got and _sha(got[i]) == v["sha256"]]
    if len(out) < 0.8 * len(want):
        pytest.skip(f"{source}: {len(out)} of {len(want)} labelled texts found on this machine")
    return out


def test_latex_manual_markup_is_not_formula_evidence_but_maths_notes_still_are():
    # \begin{verbatim} / \begin{tabular} / \begin{decl} in LaTeX's own manuals used to count as formulas: 8 of 40
    # manual paragraphs were labelled maths; math environments (align, gather, ...) still count
    manuals = _indep_texts("texman")
    notes = _indep_texts("texmath")
    manual_sci = [t[:80] for _, t in manuals if silver_label(t)[0] is not None]
    notes_math = [silver_label(t)[0] for _, t in notes]
    assert len(manual_sci) <= 2, manual_sci          # measured 1 of 40 (a paragraph on maths fonts)
    assert sum(d == "math" for d in notes_math) >= 0.9 * len(notes), notes_math


SILVER_REPOS = ["openstax/osbooks-chemistry-bundle", "paleolimbot/physical-geology",
                "thealphacubicle/NLP-Abstract-Readibility", "openstax/osbooks-anatomy-physiology",
                "mhjabreel/CharCnn_Keras", "openstax/osbooks-introduction-business"]


@pytest.fixture(scope="module")
def corpus(shared_data):
    path = shared_data / "science-dev" / "docs.jsonl.gz"
    if not path.exists():
        pytest.skip("science-dev is not in ../shared/data")
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    out = []
    for repo in SILVER_REPOS:
        mine = [r for r in rows if r["source"].split(":")[0] == repo]
        out += sorted(mine, key=lambda r: hashlib.sha256(r["text"].encode()).digest())[:400]
    return out


def _silver_only_recall_precision(corpus, classifier: ClassifierConfig) -> tuple[float, float]:
    table = pa.table({"doc_id": [f"d{i}" for i in range(len(corpus))], "text": [r["text"] for r in corpus]})
    model, report = fit_science_model(science_sample(table, 5000, seed=0), ScienceConfig(classifier=classifier))
    assert model is not None and report["labeller"] == "classifier"
    pred = np.array(science_columns(table, model).column("science_score").to_pylist()) >= 0.5
    gold = np.array([r["label"] != "non_science" for r in corpus])
    return float((pred & gold).sum() / gold.sum()), float((pred & gold).sum() / max(pred.sum(), 1))


def test_without_a_seed_words_alone_recall_more_science_than_words_bigrams_and_char_ngrams(corpus):
    # the silver labels cover ~half of the science texts; what the classifier learns from them has to carry to the
    # rest. Char 4-grams and bigrams learn each source's style: words alone recall more at the same precision.
    r_words, p_words = _silver_only_recall_precision(corpus, ClassifierConfig())
    r_old, p_old = _silver_only_recall_precision(corpus, ClassifierConfig(char_ngrams=[4], word_bigrams=True))
    print("silver-only recall/precision: words", r_words, p_words, "words+bigrams+char4", r_old, p_old)
    assert ClassifierConfig().char_ngrams == [] and ClassifierConfig().word_bigrams is False
    assert r_words >= r_old + 0.02 and p_words >= 0.97
