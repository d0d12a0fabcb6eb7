"""Curation flow: documents (PDF) + web_pages -> curated (+ curation_exclusions, web_domain_decisions).

    domain decisions (web) -> quality / language / PII (Gopher, C4, FineWeb) -> dedup (exact + MinHash)
    -> science labels (classifier trained on silver labels, or the silver rules on small corpora)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from prefect import flow
from pydantic import BaseModel, Field

from flows.context import RunContext, RunParams, open_run, single_stage
from s1data.dedup import DedupConfig
from s1data.filters import CurationConfig
from s1data.science import ScienceConfig
from s1data.web.domains import DomainDecisionConfig

CURATE_CODE_VERSION = "curate-1"
DOC_COLUMNS = ["doc_id", "source_uri", "source_sha256", "source_kind", "text"]


class CurateConfig(BaseModel):
    quality: CurationConfig = Field(default_factory=CurationConfig, description="Language id, quality rules, PII.")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Exact and near-duplicate removal.")
    science: ScienceConfig = Field(default_factory=ScienceConfig, description="Silver labels and classifier.")
    domains: DomainDecisionConfig = Field(default_factory=DomainDecisionConfig,
                                          description="Per-URL-domain keep/drop/rewrite decisions for web pages.")
    parallel_dedup_min_docs: int = Field(
        50_000, ge=1, description="From this many documents on, dedup runs as s1data.dedup.dedup_partitions on Dask "
                                  "(signatures per partition, shuffle by band, connected components); below it, "
                                  "in memory. Both give the same clusters.")
    dedup_partition_docs: int = Field(20_000, ge=100, description="Documents per partition of the parallel dedup.")
    min_classifier_docs: int = Field(
        200, ge=10, description="Train the science classifier only when at least this many documents get a "
                                "confident silver label; below it the silver rules label every document.")


class CurateFlowParams(RunParams):
    documents: str | None = Field("documents", description="PDF documents artifact (name, name:version or id).")
    web_pages: str | None = Field("web_pages", description="Web pages artifact (name, name:version or id).")
    curate: CurateConfig = Field(default_factory=CurateConfig, description="Curation settings.")


def _science_columns(docs, cfg: CurateConfig):
    """domain, subdomain, science_score for every row; which labeller was used."""
    import pyarrow as pa

    from s1data.science import label_science, silver_label, train_science_classifier

    labels = [silver_label(t, cfg.science.silver) for t in docs.column("text").to_pylist()]
    confident = sum(1 for d, _, c, _ in labels if d and c >= cfg.science.min_silver_confidence)
    if confident >= cfg.min_classifier_docs:
        model, report = train_science_classifier(docs, cfg.science)
        return label_science(docs, model, cfg.science), {"labeller": "classifier", "report": report}
    dom = [d for d, _, _, _ in labels]
    sub = [s for _, s, _, _ in labels]
    score = [c if d else 1.0 - c for d, _, c, _ in labels]
    out = docs.append_column("domain", pa.array(dom, pa.string())).append_column(
        "subdomain", pa.array(sub, pa.string())).append_column("science_score", pa.array(score, pa.float32()))
    return out, {"labeller": "silver_rules", "confident_silver": confident}


def _docs(t):
    """The contract columns as plain strings (polars writes large_string, pyarrow string)."""
    import pyarrow as pa

    return t.select(DOC_COLUMNS).cast(pa.schema([(c, pa.string()) for c in DOC_COLUMNS]))


def _dedup(kept, cfg: CurateConfig, work_dir: Path | None, dask_address: str | None = None,
           n_workers: int | None = None):
    """(kept, excluded) by exact + near-duplicate dedup: in memory, or partitioned on Dask for large corpora."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from s1data.dedup import dedup_partitions, deduplicate

    if work_dir is None or kept.num_rows < cfg.parallel_dedup_min_docs:
        return deduplicate(kept, cfg.dedup)
    from flows.engines import dask_client

    inp = Path(work_dir) / "dedup_in"
    inp.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, start in enumerate(range(0, kept.num_rows, cfg.dedup_partition_docs)):
        paths.append(str(inp / f"part-{i:05d}.parquet"))
        pq.write_table(kept.slice(start, cfg.dedup_partition_docs), paths[-1])
    with dask_client(dask_address, n_workers) as client:
        res = dedup_partitions(paths, str(Path(work_dir) / "dedup_out"), cfg.dedup, client=client)
    kept = pa.concat_tables([pq.read_table(p) for p in res["kept_paths"]])
    excluded = pa.concat_tables([pq.read_table(p) for p in res["excluded_paths"]])
    return kept, excluded


def curate_docs(pdf_docs, web_pages, cfg: CurateConfig, work_dir: Path | None = None) -> tuple:
    """The curation funnel over Arrow tables: (curated, exclusions, decisions, funnel)."""
    import pyarrow as pa

    from s1data.filters import curate
    from s1data.web.domains import domain_decisions

    parts, excluded, funnel = [], [], {}
    decisions = None
    if pdf_docs is not None and pdf_docs.num_rows:
        parts.append(_docs(pdf_docs))
    if web_pages is not None and web_pages.num_rows:
        decisions = domain_decisions(web_pages, cfg.domains)
        drop = {d for d, dec in zip(decisions.column("domain").to_pylist(),
                                    decisions.column("decision").to_pylist()) if dec == "drop"}
        mask = pa.array([d in drop for d in web_pages.column("domain").to_pylist()])
        import pyarrow.compute as pc

        dropped = _docs(web_pages.filter(mask))
        if dropped.num_rows:
            excluded.append(dropped.append_column("filter", pa.array(["domain"] * dropped.num_rows))
                            .append_column("reason", pa.array(["web_domain_drop"] * dropped.num_rows)))
        parts.append(_docs(web_pages.filter(pc.invert(mask))))
    docs = pa.concat_tables(parts) if parts else pa.table({c: pa.array([], pa.string()) for c in DOC_COLUMNS})
    funnel["input"] = docs.num_rows + sum(e.num_rows for e in excluded)
    kept, q_excl = curate(docs, cfg.quality)
    funnel["after_quality"] = kept.num_rows
    kept, d_excl = _dedup(kept, cfg, work_dir)
    funnel["after_dedup"] = kept.num_rows
    kept, how = _science_columns(kept, cfg)
    for t in (q_excl, d_excl):
        if t.num_rows:
            excluded.append(_docs(t).append_column("filter", t.column("filter").cast(pa.string()))
                            .append_column("reason", t.column("reason").cast(pa.string())))
    exclusions = pa.concat_tables(excluded) if excluded else pa.table(
        {c: pa.array([], pa.string()) for c in DOC_COLUMNS + ["filter", "reason"]})
    reasons: dict[str, int] = {}
    for r in exclusions.column("reason").to_pylist():
        reasons[r] = reasons.get(r, 0) + 1
    domains: dict[str, int] = {}
    for d in kept.column("domain").to_pylist():
        domains[d or "general"] = domains.get(d or "general", 0) + 1
    funnel.update(kept=kept.num_rows, excluded=exclusions.num_rows, exclusion_reasons=reasons,
                  domains=domains, science_labeller=how)
    return kept, exclusions, decisions, funnel


def curate_stage(ctx: RunContext, parents: dict[str, dict | None], cfg: CurateConfig) -> dict:
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    present = {k: v for k, v in parents.items() if v is not None}
    if not present:
        raise ValueError("curation needs a documents or web_pages artifact; run the pdf or web flow first")

    def build(dirs):
        from pathlib import Path

        pdf = pq.read_table(Path(present["documents"]["uri"]) / "documents.parquet") if "documents" in present \
            else None
        web = pq.read_table(Path(present["web_pages"]["uri"]) / "pages.parquet") if "web_pages" in present else None
        kept, excl, decisions, funnel = curate_docs(pdf, web, cfg, work_dir=ctx.root.staging())
        # row groups of 50k documents: a shard partition reads only the groups its row range overlaps
        pq.write_table(kept, dirs["curated"] / "curated.parquet", compression="zstd", row_group_size=50_000)
        pq.write_table(excl, dirs["curation_exclusions"] / "exclusions.parquet", compression="zstd")
        if decisions is not None:
            pq.write_table(decisions, dirs["web_domain_decisions"] / "decisions.parquet")
        return {"curated": {"rows": kept.num_rows, "meta": funnel},
                "curation_exclusions": {"rows": excl.num_rows, "meta": {"reasons": funnel["exclusion_reasons"]}},
                "web_domain_decisions": {"rows": 0 if decisions is None else decisions.num_rows}}

    arts, cached = single_stage(ctx, "curate", CURATE_CODE_VERSION, cfg, list(present.values()),
                                {"curated": "parquet", "curation_exclusions": "parquet",
                                 "web_domain_decisions": "parquet"}, build)
    summary = json.loads(arts["curated"]["meta_json"])
    summary.update(cached=cached, seconds=time.perf_counter() - t0,
                   artifacts={n: f"{a['name']}:{a['version']}" for n, a in arts.items()})
    return summary


def _maybe(ctx: RunContext, ref: str | None) -> dict | None:
    from storage import ManifestError

    if not ref:
        return None
    try:
        return ctx.manifest.resolve_artifact(ref)
    except ManifestError:
        return None


@flow(name="curate", log_prints=True)
def curate_flow(params: CurateFlowParams) -> dict:
    """Filter, deduplicate and science-label PDF and web documents into one curated artifact."""
    with open_run("curate", params) as ctx:
        out = curate_stage(ctx, {"documents": _maybe(ctx, params.documents),
                                 "web_pages": _maybe(ctx, params.web_pages)}, params.curate)
        out["run_id"] = ctx.run_id
        return out
