"""Web mining flow: WARC/ARC files -> web_pages (one row per HTML response, main content extracted).

    discover (sha256 every file) -> read each file on Dask, one partition per file, each committed as soon as it is
    back (malformed records quarantined) -> web_pages, a partitioned dataset (part-<i>.parquet, one per file in
    sha256 order, linked or copied server-side: no process holds more than one partition)
"""

from __future__ import annotations

import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.context import (RunContext, RunParams, StageProgress, commit_partition, discover_inputs, open_run,
                           split_cached_partitions)
from s1data.web import WebConfig
from storage import fingerprint, link_or_copy, loc

WEB_CODE_VERSION = "web-4"  # web-2: one partition per WARC/ARC file; web-3: hostile-input reasons, bounded reader; web-4: a cut .gz tail always says warc_truncated
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".warc.gz.bad")


class WebFlowParams(RunParams):
    input: list[str] = Field(..., description="WARC/ARC files (gzip or not), folders or glob patterns.")
    web: WebConfig = Field(default_factory=WebConfig, description="Record filters, size and time bounds.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster.")


@task(cache_policy=NO_CACHE)
def discover_warcs(patterns: list[str]) -> tuple[list[dict], list[dict]]:
    """sha256 every input file (folders: files whose name ends in a WARC/ARC suffix); also the inputs refused, as
    quarantine rows."""
    return discover_inputs(patterns, WARC_SUFFIXES)


def web_partition_fingerprint(sha256: str, config: WebConfig) -> str:
    return fingerprint("web.partition", WEB_CODE_VERSION, config, [sha256])


def web_fingerprint(partition_fps: list[str]) -> str:
    """The merged web_pages of these partitions (layout "parts": one part file per partition)."""
    return fingerprint("web", WEB_CODE_VERSION, {"layout": "parts"}, partition_fps)


@task(cache_policy=NO_CACHE)
def mine_warcs(ctx: RunContext, stage_run_id: str, sources: list[dict], source_ids: dict[str, int],
               config: WebConfig, dask_address: str | None, n_workers: int | None) -> dict:
    """Read every uncached file on Dask; commit each file's partition as soon as it is back."""

    from flows.engines import as_completed_on, dask_client
    from s1data.web import read_warc_partition  # a library function: workers never import flows/ (storage.io only)

    partitions, todo = split_cached_partitions(ctx, "web_partition", "web.partition", stage_run_id, sources,
                                               lambda sha: web_partition_fingerprint(sha, config))
    progress = StageProgress("WARC files read", len(todo))
    if todo:
        with dask_client(dask_address, n_workers) as client:
            futures = {client.submit(read_warc_partition, f["path"],
                                     str(ctx.root.partition_staging("web_partition", f["pfp"])), config,
                                     pure=False): f for f in todo}
            for fut in as_completed_on(client, futures):
                f, res = futures[fut], fut.result()
                partitions[f["sha256"]] = commit_partition(
                    ctx, name="web_partition", stage="web.partition", fingerprint=f["pfp"], out_dir=res["out_dir"],
                    parent_stage_run_id=stage_run_id, partition_key=f["sha256"], source_id=source_ids[f["sha256"]],
                    rows=res["pages"], meta={"pages": res["pages"], "quarantine": res["quarantine"]},
                    quarantine=res["quarantine"], seconds=res["seconds"], expect=res.get("files"),
                    content_sha256=res.get("content_sha256"))
                progress.advance()
    return {"partitions": partitions, "cached_partitions": len(sources) - len(todo), "mined_partitions": len(todo)}


def web_stage(ctx: RunContext, inputs: list[str], config: WebConfig, dask_address: str | None = None,
              n_workers: int | None = None) -> dict:
    """The web stage inside any flow; returns its summary."""
    import json

    t0 = time.perf_counter()
    sources, rejected = discover_warcs(inputs)
    if not sources:
        raise FileNotFoundError(f"no WARC/ARC file found under {inputs}" + (
            f" ({len(rejected)} refused: {', '.join(sorted({q['reason'] for q in rejected}))})" if rejected else ""))
    ids = ctx.manifest.record_sources("source_warc", sources)
    expected = web_fingerprint([web_partition_fingerprint(s["sha256"], config) for s in sources])
    with ctx.stage("web", expected, ["web_pages"]) as stage:
        ctx.manifest.record_quarantine(stage.stage_run_id, rejected)
        if stage.cached:
            summary = json.loads(stage.artifacts["web_pages"]["meta_json"])
            summary.update(cached=True, cached_partitions=len(sources), mined_partitions=0)
            ctx.manifest.record_cached_stages(ctx.run_id, "web.partition", stage.stage_run_id, [
                (s["sha256"], web_partition_fingerprint(s["sha256"], config)) for s in sources])
        else:
            stats = mine_warcs(ctx, stage.stage_run_id, sources, ids, config, dask_address, n_workers)
            parts = [stats["partitions"][sha] for sha in sorted(stats["partitions"])]
            out_fp = web_fingerprint([p["fingerprint"] for p in parts])
            # web_pages is a partitioned dataset: part-<i>.parquet = partition i's pages (sources by sha256), linked
            # (local) or copied server-side (object store), never concatenated in this process
            staging = ctx.root.staging("web_pages", out_fp)
            for i, p in enumerate(parts):
                link_or_copy(loc(p["uri"]) / "pages.parquet", staging / f"part-{i:05d}.parquet")
            n_pages = sum(p["rows"] or 0 for p in parts)
            reasons: dict[str, int] = {}
            for p in parts:
                for q in json.loads(p["meta_json"])["quarantine"]:
                    reasons[q["reason"]] = reasons.get(q["reason"], 0) + 1
            summary = {"files": len(sources), "pages": n_pages, "quarantined": sum(reasons.values()),
                       "quarantine_reasons": reasons, "parts": len(parts)}
            stage.commit(staging, "web_pages", "parquet", [p["artifact_id"] for p in parts], fingerprint=out_fp,
                         rows=n_pages, meta=summary)
            summary.update(cached=False, cached_partitions=stats["cached_partitions"],
                           mined_partitions=stats["mined_partitions"])
        summary["quarantined"] = summary.get("quarantined", 0) + len(rejected)
        summary.update(inputs_refused=len(rejected), seconds=time.perf_counter() - t0,
                       artifacts={"web_pages": f"web_pages:{stage.artifacts['web_pages']['version']}"})
    return summary


@flow(name="web", log_prints=True)
def web_flow(params: WebFlowParams) -> dict:
    """Mine WARC/ARC files into page parquet."""
    with open_run("web", params) as ctx:
        out = web_stage(ctx, params.input, params.web, params.dask_address, params.n_workers)
        out["run_id"] = ctx.run_id
        return out
