import numpy as np
import pyarrow as pa
import pytest

from s1data.filters import CurationConfig, curate
from s1data.science import (ClassifierConfig, ScienceClassifier, ScienceConfig, ScienceFilter, label_science,
                            science_metrics, train_science_classifier)
from s1data.science.synthetic import synthetic_corpus


def docs_table(texts):
    return pa.table({"doc_id": [f"d{i:05d}" for i in range(len(texts))], "source_uri": ["synthetic"] * len(texts),
                     "source_sha256": ["0" * 64] * len(texts), "source_kind": ["synthetic"] * len(texts),
                     "text": texts})


@pytest.fixture(scope="module")
def trained():
    texts, _ = synthetic_corpus(1500, science_share=0.5, seed=1)
    return train_science_classifier(docs_table(texts), ScienceConfig())


def test_training_on_silver_labels_reports_high_heldout_precision_and_recall_on_synthetic_text(trained):
    _, report = trained
    assert report["n_train"] > 900 and report["n_heldout"] > 200
    assert report["n_uncertain_skipped"] > 0            # 2-term "hard" paragraphs are left out
    assert report["heldout"]["precision"] >= 0.95 and report["heldout"]["recall"] >= 0.95
    assert report["heldout"]["domain_accuracy"] >= 0.95


def test_the_classifier_agrees_with_planted_labels_on_fresh_synthetic_text(trained):
    model, _ = trained
    texts, gold = synthetic_corpus(400, science_share=0.5, seed=7)
    domains, subs, scores = model.predict(texts)
    m = science_metrics(gold, domains, scores, 0.5)
    assert m["precision"] >= 0.95 and m["recall"] >= 0.9
    i = next(i for i, g in enumerate(gold) if g == "chemistry/organic_chemistry")
    assert (domains[i], subs[i]) == ("chemistry", "organic_chemistry")


def test_save_and_load_round_trip_gives_identical_scores(trained, tmp_path):
    model, _ = trained
    texts, _ = synthetic_corpus(50, seed=3)
    model.save(tmp_path / "clf")
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == ["classifier.json", "weights.npz"]
    again = ScienceClassifier.load(tmp_path / "clf")
    np.testing.assert_array_equal(again.predict(texts)[2], model.predict(texts)[2])
    assert again.predict(texts)[:2] == model.predict(texts)[:2]


def test_label_science_adds_domain_subdomain_and_score_and_nulls_the_domain_of_non_science(trained):
    model, _ = trained
    texts, gold = synthetic_corpus(60, seed=11)
    out = label_science(docs_table(texts), model, ScienceConfig(threshold=0.5))
    assert out.column_names[-3:] == ["domain", "subdomain", "science_score"]
    assert out.schema.field("science_score").type == pa.float32()
    for g, d, sc in zip(gold, out.column("domain").to_pylist(), out.column("science_score").to_pylist()):
        assert (d is None) == (sc < 0.5)
        if g == "none":
            assert d is None


def test_science_filter_drops_low_scores_with_reason_science_low_score(trained):
    model, _ = trained
    texts, gold = synthetic_corpus(80, seed=5)
    kept, excluded = ScienceFilter(model, threshold=0.5).run(docs_table(texts))
    assert kept.num_rows + excluded.num_rows == 80
    assert set(excluded.column("reason").to_pylist()) == {"science_low_score"}
    assert set(excluded.column("filter").to_pylist()) == {"science"}
    assert all(gold[int(i[1:])] == "none" for i in excluded.column("doc_id").to_pylist())
    assert min(kept.column("science_score").to_pylist()) >= 0.5


def test_the_mixed_corpus_purity_rises_from_a_few_percent_to_most_after_the_science_filter(trained):
    model, _ = trained
    texts, gold = synthetic_corpus(1000, science_share=0.03, seed=21)
    kept, _ = ScienceFilter(model, threshold=0.5).run(docs_table(texts))
    before = sum(g != "none" for g in gold) / len(gold)
    after = sum(gold[int(i[1:])] != "none" for i in kept.column("doc_id").to_pylist()) / max(kept.num_rows, 1)
    assert before < 0.05 and after > 0.9


def test_a_batch_gives_the_same_logits_as_one_text_at_a_time():
    model = ScienceClassifier(ClassifierConfig(hash_bits=12))
    model.W_DK[:] = np.random.default_rng(0).normal(size=model.W_DK.shape)
    texts, _ = synthetic_corpus(20, seed=2)
    one_by_one = np.concatenate([model.logits([t]) for t in texts])
    np.testing.assert_allclose(model.logits(texts), one_by_one, rtol=1e-5, atol=1e-5)


def test_unknown_training_labels_raise_with_the_allowed_form():
    with pytest.raises(ValueError, match="domain/subdomain"):
        ScienceClassifier().fit(["a text"], ["biology"])


def test_the_science_filter_is_a_curation_block_that_composes_with_curate(trained):
    model, _ = trained
    texts, _ = synthetic_corpus(40, seed=9)
    kept, _ = curate(docs_table(texts), CurationConfig(language=None))
    kept2, excluded2 = ScienceFilter(model).run(kept)
    assert "pii_count" in kept2.column_names and kept2.num_rows + excluded2.num_rows == kept.num_rows
