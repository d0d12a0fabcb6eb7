"""The science step over partitions: a bounded sample per partition, one model fitted on the pooled sample (plus an
optional labelled seed set), then columns per partition.

    sample_p = science_sample(partition_p, n, seed)                       # per partition, bounded by n
    model, report = fit_science_model(bottom-n of the union of samples, cfg)  # driver: model | None and why
    labelled_p = science_columns(partition_p, model, cfg)                 # per partition

`science_sample` keeps the n rows with the smallest sha256(seed:doc_id), so the sample of a union is the sample of
the partitions' samples: a global deterministic sample from per-partition records.

`fit_science_model` trains the hashed-n-gram ScienceClassifier on the confident silver labels of the sample
(`cfg.silver_training`) plus the seed set (`cfg.seed_path`). It returns `(None, report)` with a reason when the
training data is too small (`min_docs`, `cfg.min_science_docs`) or has no not-science documents; `science_columns`
then scores every row with the silver rules: science labels get `0.5 + 0.5 × confidence` (>= 0.5) and not-science
labels `0.45 × (1 − confidence)` (< 0.5), so an uncertain non-science text is never kept as science (the old
`1 − confidence` was >= 0.5 for those).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter

import numpy as np
import pyarrow as pa

from s1data.science.classifier import ScienceClassifier
from s1data.science.label import ScienceConfig, label_science, silver_labels, with_science_columns
from s1data.science.silver import SilverLabelConfig, silver_label

log = logging.getLogger(__name__)

NONE_SCORE_SCALE = 0.45  # a not-science silver label scores at most this: below any threshold >= 0.45


def _key(seed: int, k: str) -> bytes:
    return hashlib.sha256(f"{seed}:{k}".encode("utf-8", "replace")).digest()


def science_sample(table: pa.Table, n: int, seed: int = 0) -> pa.Table:
    """At most `n` rows (doc_id, text) of `table`: those with the smallest sha256(seed:doc_id), in table order.

    Without a `doc_id` column the key is the text itself, so the sample still does not depend on row order."""
    if n <= 0 or table.num_rows == 0:
        return pa.table({"doc_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    texts = table.column("text").cast(pa.string())
    ids = table.column("doc_id").cast(pa.string()) if "doc_id" in table.column_names else texts
    keys = [_key(seed, k or "") for k in ids.to_pylist()]
    rows = sorted(range(len(keys)), key=lambda i: (keys[i], i))[:n]
    take = pa.array(sorted(rows), pa.int64())
    return pa.table({"doc_id": ids.take(take), "text": texts.take(take)})


def silver_scores(texts: list[str], config: SilverLabelConfig | None = None
                  ) -> tuple[list[str | None], list[str | None], np.ndarray]:
    """(domain | None, subdomain | None, science_score) per text from the silver rules alone (see the module doc)."""
    doms, subs, scores = [], [], np.zeros(len(texts), np.float32)
    for i, t in enumerate(texts):
        d, s, c, _ = silver_label(t or "", config)
        doms.append(d)
        subs.append(s)
        scores[i] = 0.5 + 0.5 * c if d else NONE_SCORE_SCALE * (1.0 - c)
    return doms, subs, scores


SILVER_COLUMNS = ("silver_label", "silver_confidence")  # optional columns of a science sample (`with_silver_labels`)


def with_silver_labels(sample: pa.Table, cfg: ScienceConfig | None = None) -> pa.Table:
    """`sample` (a `science_sample`, `text` column) plus `silver_label` (`none` | `domain/subdomain`) and
    `silver_confidence`: the silver rules run where the sample is drawn (a partition's worker), so
    `fit_science_model` in the driver reads them instead of labelling the whole pooled sample in one process."""
    cfg = cfg or ScienceConfig()
    labels, confs = silver_labels([t or "" for t in sample.column("text").to_pylist()], cfg.silver)
    return sample.append_column(SILVER_COLUMNS[0], pa.array(labels, pa.string())) \
        .append_column(SILVER_COLUMNS[1], pa.array(confs, pa.float64()))


def fit_science_model(sample: pa.Table, cfg: ScienceConfig | None = None,
                      min_docs: int = 200) -> tuple[ScienceClassifier | None, dict]:
    """A ScienceClassifier trained on the sample's confident silver labels plus the seed set, or (None, report)
    with `report["reason"]` when there are fewer than `min_docs` training documents, fewer than
    `cfg.min_science_docs` science ones, or no not-science ones. `sample` needs a `text` column (a
    `science_sample`); with the `SILVER_COLUMNS` (`with_silver_labels`) its silver labels are read, not recomputed."""
    from s1data.science.seed import load_seed_set

    cfg = cfg or ScienceConfig()
    t0 = time.perf_counter()
    texts: list[str] = []
    labels: list[str] = []
    report: dict = {"sample_docs": sample.num_rows, "seed_path": cfg.seed_path, "silver_training": cfg.silver_training}
    if cfg.silver_training and sample.num_rows:
        stexts = [t or "" for t in sample.column("text").to_pylist()]
        if SILVER_COLUMNS[0] in sample.column_names and SILVER_COLUMNS[1] in sample.column_names:
            # labelled where the sample was drawn (`with_silver_labels`, in the workers): the same labels
            slabels = sample.column(SILVER_COLUMNS[0]).to_pylist()
            confs = sample.column(SILVER_COLUMNS[1]).to_pylist()
        else:
            slabels, confs = silver_labels(stexts, cfg.silver)
        ok = [i for i, c in enumerate(confs) if c >= cfg.min_silver_confidence]
        texts += [stexts[i] for i in ok]
        labels += [slabels[i] for i in ok]
        report["silver_confident"] = dict(Counter("none" if slabels[i] == "none" else "science" for i in ok))
        report["silver_uncertain_skipped"] = len(stexts) - len(ok)
    if cfg.seed_path:
        seed = load_seed_set(cfg.seed_path, cfg.seed_text_column, cfg.seed_label_column, cfg.seed_max_docs)
        texts += seed.column("text").to_pylist()
        seed_labels = seed.column("label").to_pylist()
        labels += seed_labels
        report["seed"] = dict(Counter("none" if lab == "none" else "science" for lab in seed_labels))
    n_sci = sum(lab != "none" for lab in labels)
    report.update(n_train=len(labels), n_train_science=n_sci)
    if len(labels) < min_docs or n_sci < cfg.min_science_docs or n_sci == len(labels):
        why = (f"{len(labels)} training documents < min_docs={min_docs}" if len(labels) < min_docs else
               f"{n_sci} science documents < min_science_docs={cfg.min_science_docs}" if n_sci < cfg.min_science_docs
               else f"no not-science documents among {len(labels)}")
        report["reason"] = f"science_too_few_labels: {why}; the silver rules label every document"
        report["labeller"] = "silver_rules"
        log.info("science: no classifier (%s)", report["reason"])
        return None, report
    model = ScienceClassifier(cfg.classifier).fit(texts, labels)
    report["labeller"] = "classifier"
    report["fit_seconds"] = round(time.perf_counter() - t0, 3)
    log.info("science classifier: %s", report)
    return model, report


def science_columns(table: pa.Table, model: ScienceClassifier | None, cfg: ScienceConfig | None = None) -> pa.Table:
    """`table` plus `domain`, `subdomain` (null when not science) and `science_score` (float32): from `model`, or
    from the silver rules when `model` is None."""
    cfg = cfg or ScienceConfig()
    if model is not None:
        return label_science(table, model, cfg)
    texts = [t or "" for t in table.column("text").to_pylist()]
    doms, subs, scores = silver_scores(texts, cfg.silver)
    return with_science_columns(table, doms, subs, scores, cfg.threshold)
