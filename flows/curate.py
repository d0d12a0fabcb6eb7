"""Curation flow: documents (PDF) + web_pages -> curated (+ curation_exclusions, web_domain_decisions).

    plan partitions -> domain samples -> domain decisions -> filters + rewrite per partition
    -> science classifier on a bounded sample -> dedup (signatures per partition, band shuffle on the flow's
    Dask client) -> science labels per partition -> curated / curation_exclusions (partitioned datasets)

The blocks are `s1data.curate`; this module picks the engine (the flow's Dask client, or this process for a corpus
of one partition), and gives the blocks their cache: every block partition is committed as an artifact
`curate_<block>` under its key, so a corpus that grew by one WARC recomputes only what depends on it.
"""

from __future__ import annotations

import json
import time

from prefect import flow
from pydantic import Field

from flows.context import RunContext, RunParams, StageProgress, open_run
from s1data.curate import CurateConfig, curate_corpus, input_files

CURATE_CODE_VERSION = "curate-4"  # curate-3: committed block partitions (per-partition cache); curate-4: science
# classifier on words only by default, silver rules count \begin/\end only around maths environments

__all__ = ["CurateConfig", "CurateFlowParams", "curate_flow", "curate_stage"]


class CurateFlowParams(RunParams):
    documents: str | None = Field("documents", description="PDF documents artifact (name, name:version or id).")
    web_pages: str | None = Field("web_pages", description="Web pages artifact (name, name:version or id).")
    curate: CurateConfig = Field(default_factory=CurateConfig, description="Curation settings.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster.")


class ManifestPartitions:
    """`s1data.curate.cache.PartitionCache` on the manifest: each block partition is an artifact
    `curate_<block>` under its key (a folder in the artifacts store, lineage to the curation input it was read
    from), committed as its task comes back; a hit checks the folder is still there."""

    def __init__(self, ctx: RunContext, stage_run_id: str, source_ids: dict[str, int]):
        self.ctx, self.stage_run_id, self.source_ids = ctx, stage_run_id, source_ids
        self.hits: list[tuple[str, str, str]] = []

    def get(self, block: str, key: str) -> dict | None:
        hit = self.ctx.manifest.find_artifact(f"curate_{block}", key)
        if hit and not self.ctx.root.present(hit["uri"]):
            self.ctx.log.warning("curation partition %s/%s recorded but missing at %s; redoing it", block, key[:12],
                                 hit["uri"])
            return None
        if hit is None:
            return None
        self.hits.append((block, key, key))
        return {"uri": str(hit["uri"]), "meta": json.loads(hit["meta_json"] or "{}")}

    def target(self, block: str, key: str) -> str:
        return str(self.ctx.root.partition_staging(f"curate_{block}", key))

    def put(self, block: str, key: str, written: dict, meta: dict, source: str | None = None) -> dict:
        from flows.context import commit_partition

        source_id = self.source_ids.get(source) or next(iter(self.source_ids.values()))
        a = commit_partition(self.ctx, name=f"curate_{block}", stage=f"curate.{block}", fingerprint=key,
                             out_dir=written["out_dir"], parent_stage_run_id=self.stage_run_id, partition_key=key,
                             source_id=source_id, rows=meta.get("rows"), meta=meta, quarantine=[],
                             expect=written.get("files"), content_sha256=written.get("content_sha256"))
        return {"uri": str(a["uri"]), "meta": meta}

    def record_hits(self) -> None:
        by_block: dict[str, list] = {}
        for block, key, fp in self.hits:
            by_block.setdefault(block, []).append((key, fp))
        for block, rows in by_block.items():
            self.ctx.manifest.record_cached_stages(self.ctx.run_id, f"curate.{block}", self.stage_run_id, rows)


def curate_stage(ctx: RunContext, parents: dict[str, dict | None], cfg: CurateConfig,
                 dask_address: str | None = None, n_workers: int | None = None) -> dict:
    from contextlib import nullcontext

    from flows.engines import dask_client
    from s1data import parts
    from s1data.curate.run import plan_partitions
    from storage import fingerprint

    t0 = time.perf_counter()
    present = {k: v for k, v in parents.items() if v is not None}
    if not present:
        raise ValueError("curation needs a documents or web_pages artifact; run the pdf or web flow first")
    fp_params = {"config": cfg.model_dump(mode="json")}
    if cfg.science.seed_path:  # the seed set's bytes, not its path, decide the classifier
        from s1data.science.seed import seed_set_sha256

        fp_params["science_seed_sha256"] = seed_set_sha256(cfg.science.seed_path)
    parent_rows = list(present.values())
    fp = fingerprint("curate", CURATE_CODE_VERSION, fp_params,
                     [p["content_sha256"] or p["fingerprint"] for p in parent_rows])
    outputs = {"curated": "parquet", "curation_exclusions": "parquet", "web_domain_decisions": "parquet"}
    with ctx.stage("curate", fp, list(outputs)) as st:
        if st.cached:
            arts, cached = st.artifacts, True
        else:
            inputs = input_files({k: str(a["uri"]) for k, a in present.items()})
            plan = plan_partitions(inputs, cfg)
            bars: dict[str, StageProgress] = {}

            def progress(step: str, done: int, total: int) -> None:
                bar = bars.setdefault(step, StageProgress(f"curation: {step}", total))
                bar.advance(done - bar.done)

            dirs = {name: ctx.root.staging(name, fp) for name in outputs}
            cache = ManifestPartitions(ctx, st.stage_run_id, {k: a["artifact_id"] for k, a in present.items()})
            # one partition and no cluster named: no cluster to start (small incremental runs stay cheap)
            engine = nullcontext(None) if dask_address is None and len(plan) <= 1 else dask_client(dask_address,
                                                                                                     n_workers)
            scratch = ctx.root.staging()
            with engine as client:
                funnel = curate_corpus(inputs, {k: str(v) for k, v in dirs.items()}, str(scratch), cfg,
                                       client=client, progress=progress, plan=plan, cache=cache)
            cache.record_hits()
            parts.remove(str(scratch))
            parents_ids = [p["artifact_id"] for p in parent_rows]
            st.commit(dirs["curated"], "curated", "parquet", parents_ids, rows=funnel["kept"],
                      meta={**funnel, "by_reason": funnel["exclusion_reasons"]})
            st.commit(dirs["curation_exclusions"], "curation_exclusions", "parquet", parents_ids,
                      rows=funnel["excluded"], meta={"reasons": funnel["exclusion_reasons"]})
            st.commit(dirs["web_domain_decisions"], "web_domain_decisions", "parquet", parents_ids,
                      rows=funnel["web_domains"], meta={"decisions": funnel["domain_decisions"]})
            arts, cached = st.artifacts, False
    summary = json.loads(arts["curated"]["meta_json"])
    summary.pop("by_reason", None)
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
    """Filter, rewrite, deduplicate and science-label PDF and web documents into one curated dataset."""
    with open_run("curate", params) as ctx:
        out = curate_stage(ctx, {"documents": _maybe(ctx, params.documents),
                                 "web_pages": _maybe(ctx, params.web_pages)}, params.curate,
                           params.dask_address, params.n_workers)
        out["run_id"] = ctx.run_id
        return out
