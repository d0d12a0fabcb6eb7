"""PDF mining flow: PDFs -> pdf_partition (one per file) -> pdf_pages + documents.

    discover (sha256 every input)  ->  mine partitions on Dask (cached ones skipped)  ->  merge + global page dedup
    (streamed: only (doc_id, dedup key) of every partition is held at once; outputs are part files)
"""

from __future__ import annotations

import os
import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.context import (RunContext, RunParams, StageProgress, commit_partition, discover_inputs, open_run,
                           split_cached_partitions)
from s1data.pdf import PDF_CODE_VERSION, PdfConfig, parse_batch
from s1data.pdf.merge import merge_partitions_streaming
from storage import fingerprint


class PdfFlowParams(RunParams):
    input: list[str] = Field(..., description="PDF files, folders (searched recursively) or glob patterns.")
    pdf: PdfConfig = Field(default_factory=PdfConfig, description="Parser, router and resource settings.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler; "
                                                       "default: a local cluster.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster (default: cores, <= 4).")


@task(cache_policy=NO_CACHE)
def discover_pdfs(patterns: list[str]) -> tuple[list[dict], list[dict]]:
    """sha256 every input file (folders: *.pdf); the same bytes under two paths are one source. Also returns the
    inputs refused (links leaving the folder, FIFOs, undecodable names...) as quarantine rows."""
    return discover_inputs(patterns, (".pdf",))


def pdf_fingerprint(partition_fps: list[str]) -> str:
    """The merged pdf_pages + documents of these partitions (layout "parts": pages-/exclusions-/figures-/
    documents-<k>.parquet part files)."""
    return fingerprint("pdf", PDF_CODE_VERSION, {"layout": "parts"}, partition_fps)


def partition_fingerprint(sha256: str, config: PdfConfig) -> str:
    return fingerprint("pdf.partition", PDF_CODE_VERSION, config.cache_params(), [sha256])


@task(cache_policy=NO_CACHE)
def mine_partitions(ctx: RunContext, stage_run_id: str, sources: list[dict], source_ids: dict[str, int],
                    config: PdfConfig, dask_address: str | None, n_workers: int | None) -> dict:
    """Parse every uncached file on Dask and commit each partition as soon as it is back."""
    from rich.progress import Progress

    from flows.engines import as_completed_on, dask_client

    m = ctx.manifest
    partitions, todo = split_cached_partitions(ctx, "pdf_partition", "pdf.partition", stage_run_id, sources,
                                               lambda sha: partition_fingerprint(sha, config))
    stats = {"cached_partitions": len(partitions), "mined_partitions": 0, "transient_failures": 0,
             "mined_pages": 0, "mine_seconds": 0.0, "peak_rss_mb": 0.0}
    if todo:
        t0 = time.perf_counter()
        batches = [todo[i:i + config.files_per_task] for i in range(0, len(todo), config.files_per_task)]
        with dask_client(dask_address, n_workers) as client, \
                Progress(disable=not os.isatty(2)) as progress:
            bar = progress.add_task("mining PDFs", total=len(todo))
            ui_progress = StageProgress("PDF files mined", len(todo))
            futures = []
            for batch in batches:
                files = [{"path": f["path"], "sha256": f["sha256"],
                          "staging": str(ctx.root.partition_staging("pdf_partition", f["pfp"]))} for f in batch]
                futures.append(client.submit(parse_batch, files, config, pure=False, retries=2))
            for fut in as_completed_on(client, futures):
                for res in fut.result():
                    spec = next(f for f in todo if f["sha256"] == res["source_sha256"])
                    stats["peak_rss_mb"] = max(stats["peak_rss_mb"], res.get("peak_rss_mb") or 0.0)
                    if res["status"] == "transient":
                        stats["transient_failures"] += 1
                        sr = m.start_stage(ctx.run_id, "pdf.partition", spec["pfp"], "running", stage_run_id,
                                           spec["sha256"])
                        m.record_quarantine(sr, res["quarantine"])
                        m.finish_stage(sr, "failed", res["quarantine"][0]["reason"])
                    else:
                        meta = {k: res.get(k) for k in ("status", "n_pages", "routes", "n_figures", "seconds",
                                                        "peak_rss_mb", "quarantine")}
                        partitions[spec["sha256"]] = commit_partition(
                            ctx, name="pdf_partition", stage="pdf.partition", fingerprint=spec["pfp"],
                            out_dir=res["out_dir"], parent_stage_run_id=stage_run_id, partition_key=spec["sha256"],
                            source_id=source_ids[spec["sha256"]], rows=res["n_pages"], meta=meta,
                            quarantine=res["quarantine"], seconds=res.get("seconds") or 0.0,
                            expect=res.get("files"), content_sha256=res.get("content_sha256"))
                        stats["mined_partitions"] += 1
                        stats["mined_pages"] += res["n_pages"]
                    progress.advance(bar)
                    ui_progress.advance()
        stats["mine_seconds"] = time.perf_counter() - t0
    stats["partitions"] = partitions
    return stats


@task(cache_policy=NO_CACHE)
def merge_outputs(ctx: RunContext, stage, partitions: dict[str, dict]) -> dict:
    """Merge committed partitions into pdf_pages and documents (global page dedup) and commit both."""
    import json

    ordered = [partitions[sha] for sha in sorted(partitions)]
    out_fp = pdf_fingerprint([p["fingerprint"] for p in ordered])
    # streamed: one partition in memory at a time, part files written straight to their place (tmp/ or the store)
    pages_dir, docs_dir = ctx.root.staging("pdf_pages", out_fp), ctx.root.staging("documents", out_fp)
    counts = merge_partitions_streaming([str(p["uri"]) for p in ordered], pages_dir, docs_dir,
                                        figures_root=str(ctx.root.artifacts))  # figures.file: <artifacts>/<file>
    quarantined = sum(len(json.loads(p["meta_json"] or "{}").get("quarantine") or []) for p in ordered)
    meta = {**counts, "quarantined": quarantined, "files": len(ordered)}
    pages_id = stage.commit(pages_dir, "pdf_pages", "parquet", [p["artifact_id"] for p in ordered],
                            fingerprint=out_fp, rows=counts["pages"], meta=meta)
    stage.commit(docs_dir, "documents", "parquet", [pages_id], fingerprint=out_fp, rows=counts["documents"],
                 meta=meta)
    return meta


def pdf_stage(ctx: RunContext, inputs: list[str], config: PdfConfig, dask_address: str | None = None,
              n_workers: int | None = None) -> dict:
    """The PDF stage inside any flow; returns its summary (also for a cached stage)."""
    import json

    t0 = time.perf_counter()
    sources, rejected = discover_pdfs(inputs)
    if not sources:
        raise FileNotFoundError(f"no PDF found under {inputs}" + (
            f" ({len(rejected)} refused: {', '.join(sorted({q['reason'] for q in rejected}))})" if rejected else ""))
    source_ids = ctx.manifest.record_sources("source_pdf", sources)
    expected = pdf_fingerprint([partition_fingerprint(s["sha256"], config) for s in sources])
    with ctx.stage("pdf", expected, ["pdf_pages", "documents"]) as stage:
        ctx.manifest.record_quarantine(stage.stage_run_id, rejected)
        if stage.cached:
            summary = json.loads(stage.artifacts["pdf_pages"]["meta_json"])
            summary.update(cached=True, cached_partitions=len(sources), mined_partitions=0, transient_failures=0)
            ctx.manifest.record_cached_stages(ctx.run_id, "pdf.partition", stage.stage_run_id, [
                (s["sha256"], partition_fingerprint(s["sha256"], config)) for s in sources])
        else:
            stats = mine_partitions(ctx, stage.stage_run_id, sources, source_ids, config, dask_address, n_workers)
            partitions = stats.pop("partitions")
            summary = {**merge_outputs(ctx, stage, partitions), **stats, "cached": False}
            summary["quarantined"] += stats["transient_failures"]
        summary["inputs_refused"] = len(rejected)
        summary["quarantined"] += len(rejected)
        summary["seconds"] = time.perf_counter() - t0
        summary["pages_per_s"] = (summary.get("mined_pages", 0) / summary["mine_seconds"]
                                  if summary.get("mine_seconds") else None)
        summary["artifacts"] = {n: f"{a['name']}:{a['version']}" for n, a in stage.artifacts.items()}
        ctx.manifest.record_metrics(stage.stage_run_id, [
            ("pdf.pages", None, summary["pages"]), ("pdf.quarantined", None, summary["quarantined"]),
            ("pdf.seconds", None, summary["seconds"])] + (
            [("pdf.pages_per_s", None, summary["pages_per_s"])] if summary["pages_per_s"] else []))
    return summary


@flow(name="pdf", log_prints=True)
def pdf_flow(params: PdfFlowParams) -> dict:
    """Mine PDFs into page-level and document-level parquet."""
    with open_run("pdf", params) as ctx:
        summary = pdf_stage(ctx, params.input, params.pdf, params.dask_address, params.n_workers)
        summary["run_id"] = ctx.run_id
        return summary
