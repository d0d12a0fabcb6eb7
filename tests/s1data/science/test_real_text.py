"""Decisions of the science step on real, independently labelled text (../shared/data/science-dev, read at test
time)."""

import gzip
import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s1data.science import (ScienceConfig, SeedSetError, fit_science_model, load_seed_set, science_columns,
                            science_sample, seed_set_sha256, silver_label, silver_scores)

TRAIN_REPOS = ["openstax/osbooks-university-physics-bundle", "openstax/osbooks-microbiology",
               "clopezvice/ArXiv-Scraper", "mhjabreel/CharCnn_Keras", "openstax/osbooks-american-government",
               "boschresearch/sofc-exp_textmining_resources"]
HELDOUT_REPOS = ["openstax/osbooks-chemistry-bundle", "paleolimbot/physical-geology",
                 "openstax/osbooks-introduction-business"]


def _take(rows, repo, n):
    """The n rows of `repo` with the smallest sha256 of their text: a fixed sample that does not depend on order."""
    mine = [r for r in rows if r["source"].split(":")[0] == repo]
    return sorted(mine, key=lambda r: hashlib.sha256(r["text"].encode()).digest())[:n]


@pytest.fixture(scope="module")
def science_dev(shared_data):
    path = shared_data / "science-dev" / "docs.jsonl.gz"
    if not path.exists():
        pytest.skip("science-dev is not in ../shared/data")
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def seed_file(science_dev, tmp_path_factory):
    rows = [r for repo in TRAIN_REPOS for r in _take(science_dev, repo, 400)]
    path = tmp_path_factory.mktemp("seed") / "seed.jsonl.gz"
    with gzip.open(path, "wt") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "label": r["label"]}) + "\n")
    return path


def test_a_model_fitted_on_some_sources_labels_texts_of_held_out_sources_with_f1_above_0_85(science_dev, seed_file):
    # measured 0.93 on this split (2,400 seed texts); the bar leaves a margin for other hardware and numpy versions
    model, report = fit_science_model(pa.table({"text": pa.array([], pa.string())}),
                                      ScienceConfig(seed_path=str(seed_file), silver_training=False))
    assert model is not None and report["labeller"] == "classifier" and report["n_train"] == 2400
    test = [r for repo in HELDOUT_REPOS for r in _take(science_dev, repo, 300)]
    out = science_columns(pa.table({"text": [r["text"] for r in test]}), model)
    pred = np.array(out.column("science_score").to_pylist()) >= 0.5
    gold = np.array([r["label"] != "non_science" for r in test])
    tp, fp, fn = (pred & gold).sum(), (pred & ~gold).sum(), (~pred & gold).sum()
    f1 = 2 * tp / (2 * tp + fp + fn)
    print('held-out F1', f1, (tp, fp, fn))
    assert f1 >= 0.85, (tp, fp, fn)


def test_without_a_seed_set_silver_labels_of_the_corpus_train_a_precise_classifier(science_dev):
    repos = HELDOUT_REPOS + ["mhjabreel/CharCnn_Keras", "openstax/osbooks-microbiology"]
    corpus = [r for repo in repos for r in _take(science_dev, repo, 300)]
    table = pa.table({"doc_id": [f"d{i}" for i in range(len(corpus))], "text": [r["text"] for r in corpus]})
    model, report = fit_science_model(science_sample(table, 1000, seed=0), ScienceConfig())
    assert model is not None and report["labeller"] == "classifier" and "seed" not in report
    out = science_columns(table, model)
    pred = np.array(out.column("science_score").to_pylist()) >= 0.5
    gold = np.array([r["label"] != "non_science" for r in corpus])
    precision, recall = (pred & gold).sum() / pred.sum(), (pred & gold).sum() / gold.sum()
    print("silver-only precision", precision, "recall", recall)
    assert precision >= 0.95 and recall >= 0.6          # measured 0.99 and 0.72


def test_without_a_model_a_confident_non_science_text_scores_below_one_half(science_dev):
    news = [r["text"] for r in _take(science_dev, "mhjabreel/CharCnn_Keras", 200)]
    labels = [silver_label(t) for t in news]
    confident = [t for t, (d, _, c, _) in zip(news, labels) if d is None and c >= 0.9]
    uncertain = [t for t, (d, _, c, _) in zip(news, labels) if d is None and c < 0.5]
    assert confident and uncertain
    _, _, s_conf = silver_scores(confident)
    _, _, s_unc = silver_scores(uncertain)
    assert s_conf.max() < 0.1             # confidence >= 0.9 -> score <= 0.045
    assert s_unc.max() < 0.5              # an uncertain non-science label is not kept either (was 1 - conf >= 0.5)
    out = science_columns(pa.table({"text": uncertain}), None)
    assert out.column("domain").null_count == out.num_rows


def test_without_a_model_a_silver_science_label_scores_at_least_one_half(science_dev):
    geo = [r["text"] for r in _take(science_dev, "paleolimbot/physical-geology", 100)]
    sci = [t for t in geo if silver_label(t)[0] is not None]
    assert sci
    doms, _, scores = silver_scores(sci)
    assert scores.min() >= 0.5 and all(d is not None for d in doms)


def test_a_seed_set_loads_from_jsonl_and_parquet_with_domain_labels_mapped_to_the_taxonomy(science_dev, tmp_path):
    rows = [r for repo in ("openstax/osbooks-microbiology", "paleolimbot/physical-geology",
                           "mhjabreel/CharCnn_Keras") for r in _take(science_dev, repo, 5)]
    pq.write_table(pa.table({"body": [r["text"] for r in rows], "topic": [r["label"] for r in rows]}),
                   tmp_path / "seed.parquet")
    with open(tmp_path / "seed.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "label": r["label"]}) + "\n")
    a = load_seed_set(str(tmp_path / "seed.parquet"), text_column="body", label_column="topic")
    b = load_seed_set(str(tmp_path / "seed.jsonl"))
    assert a.to_pylist() == b.to_pylist() and a.num_rows == 15
    doms = [lab.split("/")[0] for lab in a.column("label").to_pylist()]
    assert doms == ["life_science"] * 5 + ["earth_science"] * 5 + ["none"] * 5
    assert load_seed_set(str(tmp_path / "seed.jsonl"), max_docs=4).num_rows == 4
    before = seed_set_sha256(str(tmp_path / "seed.jsonl"))
    with open(tmp_path / "seed.jsonl", "a") as f:
        f.write(json.dumps({"text": "One more news item about a football match.", "label": "non_science"}) + "\n")
    assert seed_set_sha256(str(tmp_path / "seed.jsonl")) != before   # a fingerprint follows the content


@pytest.mark.parametrize("write, fix", [
    (None, "no such file"),
    (lambda p: p.write_text('{"text": "a", "label": "physics"}\n'), "unsupported format"),
    (lambda p: p.write_text('{"body": "a", "label": "physics"}\n'), "seed_text_column"),
    (lambda p: p.write_text('{"text": "a", "label": "astrology"}\n'), "labels not in the taxonomy"),
    (lambda p: p.write_text('not json\n'), "is not JSON"),
])
def test_a_bad_seed_path_is_one_clear_line(tmp_path, write, fix):
    name = "seed.txt" if fix == "unsupported format" else "seed.jsonl"
    path = tmp_path / name
    if write:
        write(path)
    with pytest.raises(SeedSetError) as e:
        fit_science_model(pa.table({"text": ["x"] * 300}), ScienceConfig(seed_path=str(path)))
    msg = str(e.value)
    assert fix in msg and str(path) in msg and "\n" not in msg


def test_too_few_confident_labels_give_no_model_and_a_reason():
    model, report = fit_science_model(pa.table({"text": ["The match ended in a draw after extra time."] * 20}),
                                      ScienceConfig(), min_docs=200)
    assert model is None and report["reason"].startswith("science_too_few_labels")


def test_the_sample_is_bounded_deterministic_and_the_sample_of_samples(science_dev):
    texts = [r["text"] for r in science_dev[:600]]
    t = pa.table({"doc_id": [f"d{i}" for i in range(600)], "text": texts})
    s = science_sample(t, 100, seed=3)
    assert s.num_rows == 100 and s.column_names == ["doc_id", "text"]
    reversed_order = science_sample(t.take(np.arange(599, -1, -1)), 100, seed=3)
    assert sorted(reversed_order.column("doc_id").to_pylist()) == sorted(s.column("doc_id").to_pylist())
    parts = pa.concat_tables([science_sample(t.slice(0, 300), 100, 3), science_sample(t.slice(300), 100, 3)])
    assert sorted(science_sample(parts, 100, 3).column("doc_id").to_pylist()) == sorted(
        s.column("doc_id").to_pylist())


def test_silver_labels_computed_where_the_sample_is_drawn_give_the_same_model_and_report(science_dev):
    from s1data.science.partition import with_silver_labels

    repos = HELDOUT_REPOS + ["mhjabreel/CharCnn_Keras", "openstax/osbooks-microbiology"]
    corpus = [r for repo in repos for r in _take(science_dev, repo, 300)]
    table = pa.table({"doc_id": [f"d{i}" for i in range(len(corpus))], "text": [r["text"] for r in corpus]})
    sample = science_sample(table, 1000, seed=0)
    model_a, report_a = fit_science_model(sample, ScienceConfig())
    labelled = with_silver_labels(sample, ScienceConfig())
    assert labelled.column("silver_label").null_count == 0 and "none" in labelled.column("silver_label").to_pylist()
    model_b, report_b = fit_science_model(labelled, ScienceConfig())
    drop = ("fit_seconds",)
    assert {k: v for k, v in report_a.items() if k not in drop} == {k: v for k, v in report_b.items() if k not in drop}
    assert model_a is not None and model_b is not None
    a, b = science_columns(table, model_a), science_columns(table, model_b)
    assert a.column("domain").to_pylist() == b.column("domain").to_pylist()
    assert a.column("science_score").to_pylist() == b.column("science_score").to_pylist()
