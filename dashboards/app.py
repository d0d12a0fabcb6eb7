"""The s1 dashboard: a read-only web view of the manifest (FastAPI + Jinja2 templates + plotly.js).

    create_app(home) -> ASGI app        serve(home, host="127.0.0.1", port=8050)  (blocking)

Every request opens the manifest read-only through short connections (storage.Manifest), so a running flow can
keep writing. A missing or locked manifest renders a message page (HTTP 503), never a traceback. plotly.js is served
from the installed `plotly` package: nothing is fetched from the internet.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Undefined

from dashboards import figures as F
from dashboards import queries as Q
from dashboards.lineage import group_partitions, render_svg
from storage import Manifest, ManifestError, StorageRoot

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PAGES = [("/", "Runs"), ("/corpus", "Corpus"), ("/shards", "Shards"), ("/training", "Training"), ("/rl", "RL"),
         ("/eval", "Eval"), ("/lineage", "Lineage")]


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the `plotly` PyPI package."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the `plotly` package (pip install plotly)")
    return path


def create_app(home: str | None = None, lock_timeout_s: float = 3.0) -> FastAPI:
    """The dashboard over $home/manifest.duckdb (home: --home, else $S1_HOME, else ./s1-home), read-only.

    lock_timeout_s: how long a page waits for a writer's lock before it shows the "locked" message.
    """
    root = StorageRoot.open(home, create=False)
    manifest = Manifest(root.manifest_path, read_only=True, lock_timeout_s=lock_timeout_s)
    app = FastAPI(title="s1 dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.manifest = manifest
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(num=_num, nbytes=_bytes, when=_when, duration=_duration, short=_short)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def page(request: Request, name: str, title: str, status_code: int = 200, **ctx) -> HTMLResponse:
        figs = {k: (None if v is None else _fig_json(v)) for k, v in ctx.pop("figures", {}).items()}
        return templates.TemplateResponse(request, name, {
            "title": title, "pages": PAGES, "manifest_path": str(manifest.path), "figs": figs,
            "rendered_at": datetime.now(timezone.utc), "scope": None, **ctx}, status_code=status_code)

    def scoped(request: Request, run: str | None) -> tuple[Q.RunScope, dict]:
        """The run a per-run page shows (?run=ID; default the latest completed run; ?run=all: the whole manifest)
        and the selector's context."""
        scope = Q.run_scope(manifest, run)
        if run and run != "all" and scope.run is None:
            raise LookupError(run)
        return scope, {"scope": scope, "choices": manifest.list_runs(limit=100), "selected": run or "",
                       "path": request.url.path}

    def message(request: Request, title: str, text: str, status_code: int) -> HTMLResponse:
        return page(request, "message.html", title, status_code=status_code, message=text,
                    missing=not manifest.path.exists())

    @app.exception_handler(ManifestError)
    async def manifest_unavailable(request: Request, exc: ManifestError):
        log.warning("dashboard: %s", exc)
        return message(request, "Manifest unavailable", str(exc), 503)

    @app.exception_handler(Exception)
    async def page_failed(request: Request, exc: Exception):
        log.exception("dashboard: %s failed", request.url.path)
        return message(request, "This page failed", f"{type(exc).__name__}: {exc} (the server log has the "
                       "traceback; please report it)", 500)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz")
    def healthz():
        return JSONResponse({"ok": True, "manifest": str(manifest.path), "exists": manifest.path.exists()})

    @app.exception_handler(LookupError)
    async def no_such_run(request: Request, exc: LookupError):
        return message(request, "No such run", f"run {exc.args[0]!r} is not in the manifest; see the runs page", 404)

    @app.get("/", response_class=HTMLResponse)
    def runs(request: Request):
        rows = manifest.list_runs(limit=200)
        counts = Q.run_stage_counts(manifest)
        # featured: the latest completed run; the newest run when it is not completed is shown above it with its
        # error and the command that finishes it
        latest = Q.latest_completed_run(manifest) or (rows[0] if rows else None)
        newest = rows[0] if rows and latest and rows[0]["run_id"] != latest["run_id"] else None
        problem = newest if newest and newest["status"] in ("failed", "killed") else None
        timeline = F.stage_timeline(manifest.stage_runs(latest["run_id"]), _now()) if latest else None
        return page(request, "runs.html", "Runs", runs=rows, counts=counts, latest=latest, problem=problem,
                    problem_stages=[s for s in manifest.stage_runs(problem["run_id"]) if s["status"] == "failed"]
                    if problem else [], figures={"timeline": timeline})

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_detail(request: Request, run_id: str):
        run = manifest.get_run(run_id)
        if run is None:
            return message(request, "No such run", f"run {run_id!r} is not in the manifest; see the runs page", 404)
        stages = manifest.stage_runs(run_id)
        return page(request, "run.html", f"Run {run_id}", run=run, stages=stages,
                    artifacts=Q.run_artifacts(manifest, run_id), metrics=Q.run_scalar_metrics(manifest, run_id),
                    quarantine=Q.run_quarantine(manifest, run_id),
                    figures={"timeline": F.stage_timeline(stages, _now())})

    @app.get("/corpus", response_class=HTMLResponse)
    def corpus(request: Request, run: str | None = None):
        scope, sel = scoped(request, run)
        arts = Q.latest_with_meta_in(manifest, scope)
        figs: dict[str, dict | None] = {"pdf": F.pdf_counts(arts)}
        curation = []
        for a in arts:
            counts = F.curation_counts(F.meta(a))
            if counts:
                key = f"{a['name']}-{a['version']}"
                figs[f"funnel-{key}"] = F.curation_funnel(a, counts)
                figs[f"reasons-{key}"] = F.exclusion_reasons(f"Exclusions by reason ({a['name']}:{a['version']})",
                                                             counts)
                curation.append({"artifact": a, "key": key})
        comp = {}
        for key in ("domains", "sources"):
            found = F.composition(arts, key)
            if found:
                row, counts = found
                unit = "tokens" if row["name"] == "token_shards" else "count"
                figs[f"comp-{key}"] = F.composition_bar(
                    f"{unit.capitalize()} by {key[:-1]} ({row['name']}:{row['version']})", unit, counts)
                comp[key] = row
            else:
                figs[f"comp-{key}"] = None
        pdf = next((a for a in arts if a["name"] == "pdf_pages"), None)
        routes = F.meta(pdf).get("routes") if pdf else None
        figs["routes"] = F.pie(f"PDF pages by parser route ({pdf['name']}:{pdf['version']})", routes) \
            if routes else None
        figs["quarantine"] = F.quarantine_reasons(Q.quarantine_by_reason_in(manifest, scope))
        return page(request, "corpus.html", "Corpus", curation=curation, comp=comp,
                    sources=Q.sources_by_name_in(manifest, scope), figures=figs, **sel)

    @app.get("/shards", response_class=HTMLResponse)
    def shards(request: Request, run: str | None = None):
        scope, sel = scoped(request, run)
        inv = Q.inventory(manifest)
        versions = Q.artifacts_by_name(manifest, "token_shards")
        inside = [v for v in versions if scope.artifact_ids is None or v["artifact_id"] in scope.artifact_ids]
        latest = inside[0] if inside else None
        files = F.shard_files(latest) if latest else []
        return page(request, "shards.html", "Shards", inventory=inv, versions=versions, latest=latest,
                    files=files, figures={"tokens": F.tokens_by_dataset(inv),
                                          "shard-tokens": F.shard_tokens(latest, files) if latest else None},
                    **sel)

    @app.get("/training", response_class=HTMLResponse)
    def training(request: Request, run: str | None = None):
        scope, sel = scoped(request, run)
        rows = scope.rows(Q.train_series(manifest))
        figs = F.training_curves(rows)
        load = Q.expert_load_latest(manifest) if scope.stage_run_ids is None else _last_step(
            scope.rows(Q.series(manifest, "train.expert_load.")))
        figs["expert-load"] = F.expert_heatmap(load)
        return page(request, "training.html", "Training", curves=F.TRAIN_CURVES,
                    other=F.other_training_metrics(rows), figures=figs, **sel)

    @app.get("/rl", response_class=HTMLResponse)
    def rl(request: Request, run: str | None = None):
        scope, sel = scoped(request, run)
        pass_rows = scope.rows(Q.series(manifest, "rl.pass_rate."))
        return page(request, "rl.html", "RL", figures={
            "rl-reward": F.reward_curves(scope.rows(Q.series(manifest, "rl.reward."))),
            "rl-pass-bucket": F.pass_rate_by_bucket(pass_rows), "rl-pass-steps": F.pass_rate_curves(pass_rows)},
            **sel)

    @app.get("/eval", response_class=HTMLResponse)
    def eval_report(request: Request, run: str | None = None, report: str | None = None):
        """The eval report of the run (its eval_report artifact, or the newest one in its lineage), or the one named
        by ?report=name:version / id; every version listed."""
        scope, sel = scoped(request, run)
        versions = [{**v, "checkpoint": (F.meta(v).get("lineage") or {}).get("checkpoint")}
                    for v in Q.artifacts_by_name(manifest, "eval_report")]
        if report:
            try:
                art = manifest.resolve_artifact(report)
            except ManifestError as e:
                if not manifest.path.exists() or "locked" in str(e):
                    raise
                return message(request, "No such eval report", str(e), 404)
        else:
            art = next((v for v in versions if scope.artifact_ids is None or v["artifact_id"] in scope.artifact_ids),
                       None)
        m = F.meta(art) if art else {}
        k = F.eval_k(m)
        return page(request, "eval.html", "Eval", report=art, m=m, k=k, versions=versions,
                    figures={"eval-tasks": F.eval_per_task(m), "eval-ppl": F.eval_perplexity(m)}, **sel)

    @app.get("/lineage", response_class=HTMLResponse)
    def lineage_index(request: Request, ref: str | None = None):
        if ref:
            return RedirectResponse(f"/lineage/{quote(ref.strip(), safe='')}", status_code=303)
        return page(request, "lineage_index.html", "Lineage", artifacts=Q.recent_artifacts(manifest))

    @app.get("/lineage/{ref}", response_class=HTMLResponse)
    def lineage(request: Request, ref: str):
        try:
            art = manifest.resolve_artifact(ref)
        except ManifestError as e:
            if not manifest.path.exists() or "locked" in str(e):
                raise
            return message(request, "No such artifact", str(e), 404)
        ancestors = manifest.ancestors(art["artifact_id"])
        ids = [art["artifact_id"]] + [a["artifact_id"] for a in ancestors]
        edges = [(e["child_id"], e["parent_id"]) for e in Q.edges_among(manifest, ids)]
        shown, edges = group_partitions(ancestors, edges, Q.is_partition_artifact)  # web_partition ×N: one node
        svg, drawn = render_svg(art, shown, edges, lambda aid: f"/lineage/{aid}")
        sources = [a for a in ancestors if a["kind"] == "source"]
        return page(request, "lineage.html", f"Lineage of {art['name']}:{art['version']}", art=art,
                    meta=json.dumps(F.meta(art), indent=2, sort_keys=True, default=str), ancestors=ancestors,
                    sources=sources, children=Q.children(manifest, art["artifact_id"]), svg=svg, drawn=drawn)

    return app


def serve(home: str | None = None, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Run the dashboard until interrupted (blocking). Loopback by default: pass host="0.0.0.0" to expose it."""
    import uvicorn

    app = create_app(home)
    log.info("s1 dashboard on http://%s:%d (manifest %s)", host, port, app.state.manifest.path)
    print(f"s1 dashboard: http://{host}:{port}  (manifest {app.state.manifest.path}, read-only; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


# -- helpers --------------------------------------------------------------------------------------------------------
def _last_step(rows: list[dict]) -> list[dict]:
    """Expert-load rows of the latest stage run at its last step (what expert_load_latest picks, within a scope)."""
    if not rows:
        return []
    sr = rows[-1]["stage_run_id"]
    step = max(r["step"] for r in rows if r["stage_run_id"] == sr)
    return [r for r in rows if r["stage_run_id"] == sr and r["step"] == step]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fig_json(fig: dict) -> str:
    """JSON for a <script type="application/json"> block: NaN/inf become null, and "</" cannot close the tag."""
    return json.dumps(_finite(fig), default=str, allow_nan=False).replace("</", "<\\/")


def _finite(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _missing(v) -> bool:
    return v is None or isinstance(v, Undefined)


def _num(v) -> str:
    if _missing(v):
        return "—"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _bytes(v) -> str:
    if _missing(v) or not isinstance(v, (int, float)):
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(v)


def _when(t) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(t, datetime) else "—"


def _duration(row: dict) -> str:
    start, end = row.get("started_at"), row.get("finished_at")
    if not isinstance(start, datetime):
        return "—"
    s = ((end or _now()) - start).total_seconds()
    text = f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"
    return text if end else f"{text} (so far)"


def _short(s, n: int = 12) -> str:
    return "—" if _missing(s) else str(s)[:n]
