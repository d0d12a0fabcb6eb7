"""Domain-centric decisions (Intern-S1): sample pages per URL domain, score them, decide keep / drop / rewrite.

`domain_decisions(pages, config, scorer=None)` groups `pages` by their `domain` column, takes a deterministic sample
of at most `max_pages_per_domain` pages per domain (the pages with the smallest `sha256(seed:key)`, key = `doc_id`,
else `url`, else the text), and scores the sample:

- `keep_rate`: share of sampled pages that pass the curation blocks (`s1data.filters.build_filters`, i.e. language
  id and the Gopher / C4 / FineWeb rules of `config.curation`);
- `mean_science_score`: mean `science_score` of the sampled pages when a scorer is given (a ScienceClassifier, or a
  callable `texts -> scores`), else null.

Decision, first rule that fires (thresholds are `DomainDecisionConfig` fields):
0. `drop`     — fewer than `min_language_ok_rate` (0.5) of the sampled pages pass the language filter (rule
   `unwanted_language`): a science classifier trained on English gives unreliable scores on other languages (on the
   German/French pages of ../shared/data/html it scores 12 of 25 pages >= 0.5), so they must not become rewrite
   candidates on the strength of that score;
1. `keep`     — keep_rate >= `keep_min_keep_rate` (0.5) and (no scorer, or mean_science_score >=
   `keep_min_science` (0.3));
2. `rewrite_candidate` — with a scorer: mean_science_score >= `rewrite_min_science` (0.3) but the pages fail
   quality (science content worth an LLM rewrite); without a scorer: keep_rate >= `rewrite_min_keep_rate` (0.2);
3. `drop`     — everything else (low quality and no science signal).
A domain with fewer than `min_pages` sampled pages is decided the same way and flagged in the evidence.
The pages of `rewrite_candidate` domains are rewritten by `s1data.web.rewrite.rewrite_documents(pages, config,
decisions=<this table>)` (an OpenAI-compatible endpoint; without one they are kept unchanged, reason `no_endpoint`).
`evidence_json` holds the rule that fired, the thresholds, the sampled doc ids, the drop reasons counted by
`filter:reason`, and science-score quantiles.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from s1data.filters.curate import CurationConfig, build_filters

DECISIONS_SCHEMA = pa.schema([("domain", pa.string()), ("n_pages", pa.int64()), ("n_sampled", pa.int64()),
                              ("keep_rate", pa.float64()), ("mean_science_score", pa.float64()),
                              ("decision", pa.string()), ("evidence_json", pa.string())])


class DomainDecisionConfig(BaseModel):
    """Sampling and thresholds of the per-domain keep / drop / rewrite_candidate decision."""

    max_pages_per_domain: int = Field(32, description="At most this many pages are sampled and scored per domain.")
    seed: int = Field(0, description="Seed of the deterministic per-domain sample.")
    min_pages: int = Field(3, description="Domains with fewer sampled pages are flagged `few_pages` in the evidence.")
    keep_min_keep_rate: float = Field(0.5, description="keep needs at least this share of pages passing curation.")
    keep_min_science: float = Field(0.3, description="With a scorer, keep also needs this mean science_score.")
    rewrite_min_science: float = Field(0.3, description="With a scorer: science-rich domains that fail quality are "
                                       "rewrite candidates.")
    rewrite_min_keep_rate: float = Field(0.2, description="Without a scorer: keep_rate in [this, keep_min_keep_rate) "
                                         "is a rewrite candidate.")
    min_language_ok_rate: float = Field(0.5, description="Below this share of pages passing the language filter the "
                                        "domain is dropped (rule unwanted_language); ignored when curation.language "
                                        "is null.")
    curation: CurationConfig = Field(default_factory=CurationConfig, description="Quality blocks that give keep_rate.")


def _sample_key(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}:{key}".encode("utf-8", "replace")).digest()


def _science_scores(scorer, texts: list[str]) -> np.ndarray:
    if hasattr(scorer, "predict"):
        return np.asarray(scorer.predict(texts)[2], np.float64)
    return np.asarray(scorer(texts), np.float64)


def _decide(keep_rate: float, science: float | None, lang_ok: float, c: DomainDecisionConfig) -> tuple[str, str]:
    if lang_ok < c.min_language_ok_rate:
        return "drop", "unwanted_language"
    if keep_rate >= c.keep_min_keep_rate and (science is None or science >= c.keep_min_science):
        return "keep", "quality_ok" if science is None else "quality_and_science_ok"
    if science is not None:
        if science >= c.rewrite_min_science:
            return "rewrite_candidate", "science_but_low_quality"
        return "drop", "low_science" if keep_rate >= c.keep_min_keep_rate else "low_quality_and_science"
    if keep_rate >= c.rewrite_min_keep_rate:
        return "rewrite_candidate", "borderline_quality"
    return "drop", "low_quality"


def drop_reasons(pages: pa.Table, config: DomainDecisionConfig | None = None) -> list[str | None]:
    """Per row, `filter:reason` of the first curation block of `config.curation` that drops it, or None (kept).
    A partitioned run computes this next to its sample, in the worker (the `filter_reason` column)."""
    config = config or DomainDecisionConfig()
    kept = pages.append_column("_row", pa.array(range(pages.num_rows), pa.int64()))
    reasons: list[str | None] = [None] * pages.num_rows
    for block in build_filters(config.curation):
        kept, excluded = block.run(kept)
        for r, f, why in zip(excluded.column("_row").to_pylist(), excluded.column("filter").to_pylist(),
                             excluded.column("reason").to_pylist()):
            reasons[r] = f"{f}:{why}"
    return reasons


def domain_decisions(pages: pa.Table, config: DomainDecisionConfig | None = None, scorer=None) -> pa.Table:
    """One row per domain (sorted by domain): `DECISIONS_SCHEMA`. Pages with a null domain are grouped as ''.
    A `filter_reason` column (from `drop_reasons`) is used as given instead of running the curation blocks."""
    config = config or DomainDecisionConfig()
    n = pages.num_rows
    if n == 0:
        return DECISIONS_SCHEMA.empty_table()
    domains = [d or "" for d in pages.column("domain").to_pylist()]
    if "doc_id" in pages.column_names:
        keys = pages.column("doc_id").to_pylist()
    elif "url" in pages.column_names:
        keys = pages.column("url").to_pylist()
    else:
        keys = pages.column("text").to_pylist()
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(domains):
        groups.setdefault(d, []).append(i)
    sampled: dict[str, list[int]] = {}
    for d, rows in groups.items():
        rows = sorted(rows, key=lambda i: (_sample_key(config.seed, str(keys[i] or "")), i))
        sampled[d] = sorted(rows[:config.max_pages_per_domain])
    all_rows = [i for d in sorted(sampled) for i in sampled[d]]
    sample = pages.take(pa.array(all_rows, pa.int64()))
    # Quality: the curation blocks over every sampled page (or their reasons as given), survivors per domain.
    given = sample.column("filter_reason").to_pylist() if "filter_reason" in sample.column_names \
        else drop_reasons(sample, config)
    reasons: dict[int, str] = {r: why for r, why in zip(all_rows, given) if why}
    scores: dict[int, float] = {}
    if scorer is not None:
        texts = [t or "" for t in sample.column("text").to_pylist()]
        scores = dict(zip(all_rows, _science_scores(scorer, texts).tolist()))
    out = {f.name: [] for f in DECISIONS_SCHEMA}
    for d in sorted(sampled):
        rows = sampled[d]
        keep_rate = sum(1 for r in rows if r not in reasons) / len(rows)
        sci = float(np.mean([scores[r] for r in rows])) if scores else None
        lang_ok = sum(1 for r in rows if not reasons.get(r, "").startswith("lang:")) / len(rows)
        decision, rule = _decide(keep_rate, sci, lang_ok, config)
        evidence = {"rule": rule, "language_ok_rate": round(lang_ok, 6), "few_pages": len(rows) < config.min_pages,
                    "drop_reasons": dict(Counter(reasons[r] for r in rows if r in reasons).most_common()),
                    "sampled_keys": sorted(str(keys[r]) for r in rows),
                    "thresholds": config.model_dump(exclude={"curation", "seed", "max_pages_per_domain"})}
        if scores:
            q = np.quantile([scores[r] for r in rows], [0.1, 0.5, 0.9])
            evidence["science_score_q10_q50_q90"] = [round(float(x), 4) for x in q]
        for k, v in (("domain", d), ("n_pages", len(groups[d])), ("n_sampled", len(rows)),
                     ("keep_rate", round(keep_rate, 6)), ("mean_science_score", None if sci is None else round(sci, 6)),
                     ("decision", decision), ("evidence_json", json.dumps(evidence, sort_keys=True, default=str))):
            out[k].append(v)
    return pa.Table.from_pydict(out, schema=DECISIONS_SCHEMA)
