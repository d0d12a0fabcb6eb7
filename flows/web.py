"""Web mining flow: WARC/ARC files -> web_pages (one row per HTML response, main content extracted).

    discover (sha256 every file) -> read each file on Dask (malformed records quarantined) -> merge -> web_pages
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.context import RunContext, RunParams, open_run, single_stage
from s1data.web import WebConfig
from storage import file_sha256

WEB_CODE_VERSION = "web-1"
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".warc.gz.bad")


class WebFlowParams(RunParams):
    input: list[str] = Field(..., description="WARC/ARC files (gzip or not), folders or glob patterns.")
    web: WebConfig = Field(default_factory=WebConfig, description="Record filters, size and time bounds.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster.")


@task(cache_policy=NO_CACHE)
def discover_warcs(patterns: list[str]) -> list[dict]:
    """sha256 every input file (folders: files whose name ends in a WARC/ARC suffix)."""
    paths: set[str] = set()
    for pat in patterns:
        p = Path(pat).expanduser()
        if p.is_dir():
            paths.update(str(f.resolve()) for f in p.rglob("*") if f.is_file() and f.name.endswith(WARC_SUFFIXES))
        elif p.is_file():
            paths.add(str(p.resolve()))
        else:
            hits = glob.glob(str(p), recursive=True)
            if not hits:
                raise FileNotFoundError(f"--input {pat!r} matches no file")
            paths.update(str(Path(h).resolve()) for h in hits if Path(h).is_file())
    seen: dict[str, dict] = {}
    for path in sorted(paths):
        sha = file_sha256(path)
        seen.setdefault(sha, {"path": path, "sha256": sha, "bytes": os.path.getsize(path)})
    return sorted(seen.values(), key=lambda s: s["sha256"])


def web_stage(ctx: RunContext, inputs: list[str], config: WebConfig, dask_address: str | None = None,
              n_workers: int | None = None) -> dict:
    """The web stage inside any flow; returns its summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flows.engines import dask_client

    t0 = time.perf_counter()
    sources = discover_warcs(inputs)
    if not sources:
        raise FileNotFoundError(f"no WARC/ARC file found under {inputs}")
    ids = ctx.manifest.record_sources("source_warc", sources)
    parents = [ctx.manifest.resolve_artifact(ids[s["sha256"]]) for s in sources]

    def build(dirs):
        with dask_client(dask_address, n_workers) as client:
            from s1data.web import read_warc  # a library function: workers never import flows/ or storage/

            futures = [client.submit(read_warc, s["path"], config, pure=False) for s in sources]
            results = client.gather(futures)
        tables = [t for t, _ in results if t.num_rows]
        quarantine = [q for _, qs in results for q in qs]
        pages = pa.concat_tables(tables).sort_by([("source_sha256", "ascending"), ("source_uri", "ascending")]) \
            if tables else results[0][0].schema.empty_table()
        pq.write_table(pages, dirs["web_pages"] / "pages.parquet", compression="zstd")
        reasons: dict[str, int] = {}
        for q in quarantine:
            reasons[q["reason"]] = reasons.get(q["reason"], 0) + 1
        meta = {"files": len(sources), "pages": pages.num_rows, "quarantined": len(quarantine),
                "quarantine_reasons": reasons}
        return {"web_pages": {"rows": pages.num_rows, "meta": meta, "quarantine": quarantine}}

    arts, cached = single_stage(ctx, "web", WEB_CODE_VERSION, config, parents, {"web_pages": "parquet"}, build)
    import json

    summary = json.loads(arts["web_pages"]["meta_json"])
    summary.update(cached=cached, seconds=time.perf_counter() - t0,
                   artifacts={"web_pages": f"web_pages:{arts['web_pages']['version']}"})
    return summary


@flow(name="web", log_prints=True)
def web_flow(params: WebFlowParams) -> dict:
    """Mine WARC/ARC files into page parquet."""
    with open_run("web", params) as ctx:
        out = web_stage(ctx, params.input, params.web, params.dask_address, params.n_workers)
        out["run_id"] = ctx.run_id
        return out
