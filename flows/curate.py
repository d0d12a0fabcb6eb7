"""Curation flow: documents (PDF) + web_pages -> curated (+ curation_exclusions, web_domain_decisions).

    plan partitions -> domain samples -> domain decisions -> filters + rewrite per partition
    -> science classifier on a bounded sample -> dedup (partitioned, on the flow's Dask client)
    -> science labels per partition -> curated / curation_exclusions (partitioned datasets)

The blocks are `s1data.curate`; this module picks the engine (the flow's Dask client, or this process for a corpus
of one partition), hands the blocks their storage locations and records the artifacts.
"""

from __future__ import annotations

import json
import time

from prefect import flow
from pydantic import Field

from flows.context import RunContext, RunParams, StageProgress, open_run, single_stage
from s1data.curate import CurateConfig, curate_corpus, input_files

CURATE_CODE_VERSION = "curate-2"  # curate-2: partition blocks, partitioned outputs

__all__ = ["CurateConfig", "CurateFlowParams", "curate_flow", "curate_stage"]


class CurateFlowParams(RunParams):
    documents: str | None = Field("documents", description="PDF documents artifact (name, name:version or id).")
    web_pages: str | None = Field("web_pages", description="Web pages artifact (name, name:version or id).")
    curate: CurateConfig = Field(default_factory=CurateConfig, description="Curation settings.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster.")


def curate_stage(ctx: RunContext, parents: dict[str, dict | None], cfg: CurateConfig,
                 dask_address: str | None = None, n_workers: int | None = None) -> dict:
    from s1data import parts
    from s1data.curate.run import plan_partitions

    t0 = time.perf_counter()
    present = {k: v for k, v in parents.items() if v is not None}
    if not present:
        raise ValueError("curation needs a documents or web_pages artifact; run the pdf or web flow first")

    def build(dirs):
        from contextlib import nullcontext

        from flows.engines import dask_client

        inputs = input_files({k: str(a["uri"]) for k, a in present.items()})
        plan = plan_partitions(inputs, cfg)
        bars: dict[str, StageProgress] = {}

        def progress(step: str, done: int, total: int) -> None:
            bar = bars.setdefault(step, StageProgress(f"curation: {step}", total))
            bar.advance(done - bar.done)

        # one partition and no cluster named: no cluster to start (small incremental runs stay cheap)
        engine = nullcontext(None) if dask_address is None and len(plan) <= 1 else dask_client(dask_address,
                                                                                                 n_workers)
        scratch = ctx.root.staging()
        with engine as client:
            funnel = curate_corpus(inputs, {k: str(v) for k, v in dirs.items()}, str(scratch), cfg, client=client,
                                   progress=progress, plan=plan)
        parts.remove(str(scratch))
        return {"curated": {"rows": funnel["kept"], "meta": {**funnel, "by_reason": funnel["exclusion_reasons"]}},
                "curation_exclusions": {"rows": funnel["excluded"],
                                        "meta": {"reasons": funnel["exclusion_reasons"]}},
                "web_domain_decisions": {"rows": funnel["web_domains"],
                                         "meta": {"decisions": funnel["domain_decisions"]}}}

    fp_params = {"config": cfg.model_dump(mode="json")}
    if cfg.science.seed_path:  # the seed set's bytes, not its path, decide the classifier
        from s1data.science.seed import seed_set_sha256

        fp_params["science_seed_sha256"] = seed_set_sha256(cfg.science.seed_path)
    arts, cached = single_stage(ctx, "curate", CURATE_CODE_VERSION, fp_params, list(present.values()),
                                {"curated": "parquet", "curation_exclusions": "parquet",
                                 "web_domain_decisions": "parquet"}, build, on_store=True)
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
