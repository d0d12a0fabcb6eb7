"""`s1`: the one command-line entry point.

    s1 demo · s1 run <flow> [--config FILE] [--set key=value] [--input ...] · s1 runs · s1 rerun RUN_ID
    s1 lineage ARTIFACT · s1 sql "SELECT …" · s1 bootcamp list · s1 gc [--older-than S] [--yes]
Every verb takes --home and --artifacts; listing verbs take --json.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="s1: science corpus to RL-tuned MoE pipeline.")
console = Console(stderr=False)
err = Console(stderr=True)

HomeOpt = typer.Option(None, "--home", help="Storage root (default $S1_HOME or ./s1-home).")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
ArtifactsOpt = typer.Option(None, "--artifacts", help="Where artifacts live: a local folder or a URL such as "
                            "s3://bucket/prefix (S3 via AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). Default "
                            "$S1_ARTIFACTS, else <home>/artifacts. The manifest stays in --home.")


def _env(home: Optional[str], verbose: bool = False, artifacts: Optional[str] = None) -> None:
    """Settings that must be in place before Prefect is imported."""
    from storage import resolve_home, uri_of

    h = resolve_home(home)
    os.environ["S1_HOME"] = str(h)
    if artifacts:
        os.environ["S1_ARTIFACTS"] = uri_of(artifacts)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Prefect's client telemetry (milestones, events) off
    os.environ.setdefault("PREFECT_HOME", str(h / "prefect"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")
    _attach_served_api(h)
    _quiet_third_party(h, verbose)


# Progress bars and notices of libraries s1 drives; set before they are imported (and inherited by the Dask, Ray and
# DeepSpeed processes started from here). `-v` leaves every one of them alone.
QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "DATASETS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
             "RAY_DEDUP_LOGS": "1", "RAY_DISABLE_IMPORT_WARNING": "1", "RAY_USAGE_STATS_ENABLED": "0",
             "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0", "DS_BUILD_OPS": "0", "PYTHONWARNINGS": "ignore"}
# loggers whose records go to <home>/logs/s1.log only (not the console) unless -v
QUIET_LOGGERS = ("py.warnings", "warcio", "DeepSpeed", "deepspeed", "ray", "transformers", "datasets",
                 "huggingface_hub", "torch.distributed", "accelerate", "urllib3", "filelock", "distributed",
                 "trafilatura", "htmldate", "courlan", "fsspec", "s3fs", "botocore", "numexpr")


def _quiet_third_party(home: Path, verbose: bool) -> Path | None:
    """Quiet by default: third-party warnings, notices and progress bars go to <home>/logs/s1.log, the console keeps
    s1's own progress, summary and errors. Returns the log file (None with -v, where everything is shown)."""
    import warnings

    if verbose:
        return None
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    log = Path(home) / "logs" / "s1.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.captureWarnings(True)  # warnings.warn -> logger py.warnings -> the file
    warnings.simplefilter("default")  # once per location, into the file
    for name in QUIET_LOGGERS:
        lg = logging.getLogger(name)
        lg.propagate = False
        for h in list(lg.handlers):  # a console handler the library added before this ran
            if _is_console(h):
                lg.removeHandler(h)
        if not any(getattr(h, "baseFilename", None) == str(log) for h in lg.handlers):
            lg.addHandler(handler)
        if type(lg) is logging.Logger:
            lg.__class__ = _FileOnlyLogger  # and one it adds later: DeepSpeed's stdout handler, added at import
    return log


def _is_console(h: logging.Handler) -> bool:
    return (type(h) is logging.StreamHandler
            and getattr(h, "stream", None) in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__))


class _FileOnlyLogger(logging.Logger):
    """A quieted library logger: a console handler the library adds to it (DeepSpeed's logger gets a stdout
    StreamHandler at import, which printed "Setting accelerator to CPU" on every run) is not added; its records
    still reach <home>/logs/s1.log through the file handler set here."""

    def addHandler(self, hdlr: logging.Handler) -> None:
        if not _is_console(hdlr):
            super().addHandler(hdlr)


def _api_file(home: Path) -> Path:
    from flows.prefect_api import api_file

    return api_file(home)


def _attach_served_api(home: Path) -> None:
    """When `s1 serve` or `s1 api start` runs for this home, flows started here use its Prefect API (they show in
    its UI, and no API server has to start: the fixed cost of a small or cached run). A stale record is ignored."""
    from flows.prefect_api import recorded

    if os.environ.get("PREFECT_API_URL"):
        return
    rec = recorded(home)
    if rec:
        os.environ["PREFECT_API_URL"] = rec["url"]


def _guard_processes() -> None:
    """Before a verb that starts work: stop the processes a killed s1 run of this home left behind, then make every
    process this one starts die with it (an owner tag in their environment, a reaper; s1model.procs)."""
    from s1model.procs import become_owner, sweep_orphans

    home = os.environ["S1_HOME"]
    stopped = sweep_orphans(home)
    if stopped:
        err.print(f"stopped {len(stopped)} process(es) left running by a killed s1 run in {home}")
    become_owner(home)


def _start_work() -> None:
    """Before a verb that runs a flow: guard the processes, then start the Prefect API now (unless one is recorded
    for this home or named by $PREFECT_API_URL), so it boots while the flow's modules are imported. With
    $S1_KEEP_API_MINUTES set, the API started is a kept one (`s1 api start --idle-minutes N`) that later commands of
    the home attach to."""
    from flows.prefect_api import start_ephemeral, start_kept

    _guard_processes()
    keep = os.environ.get("S1_KEEP_API_MINUTES")
    if keep and not os.environ.get("PREFECT_API_URL"):
        try:
            os.environ["PREFECT_API_URL"] = start_kept(os.environ["S1_HOME"], float(keep))["url"]
        except (RuntimeError, ValueError) as e:
            _fail(f"S1_KEEP_API_MINUTES={keep}: {e}")
        return
    start_ephemeral(os.environ["S1_HOME"])  # a child: carries the owner tag, dies with this process


def _drop_computed(model: type, params: dict) -> dict:
    """Remove what a stored run's parameters hold beyond the fields: pydantic computed fields are part of a dump
    (DedupConfig.lsh_bands_rows), and `s1 rerun` would otherwise reject its own run's parameters as unknown keys."""
    from flows.context import OverridesOf, submodel

    for k in list(params):
        if k in getattr(model, "model_computed_fields", {}):
            del params[k]
            continue
        f = model.model_fields.get(k)
        if f is None or not isinstance(params[k], dict):
            continue
        sub = submodel(f.annotation) or next((m.model for m in f.metadata if isinstance(m, OverridesOf)), None)
        if sub is not None:
            _drop_computed(sub, params[k])
    return params


def _drop_masked(params: dict) -> dict:
    """A stored run's secrets are masked (`**********`, pydantic SecretStr): drop them, so a rerun reads the key
    from its environment variable (vlm_api_key_env, ...) instead of sending the mask as a key."""
    for k in list(params):
        if params[k] == "**********":
            del params[k]
        elif isinstance(params[k], dict):
            _drop_masked(params[k])
    return params


def _flows() -> dict[str, tuple[Any, type]]:
    from flows.registry import FLOWS

    return FLOWS


def _set_path(d: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _load_config(path: Path) -> dict:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    if path.suffix == ".toml":
        import tomllib

        return tomllib.loads(text)
    return json.loads(text)


def _fail(msg: str) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(1)


def _text_only(annotation) -> bool:
    """`str` or `str | None`: a field where a number can only mean its text."""
    from typing import get_args

    args = set(get_args(annotation) or (annotation,)) - {type(None)}
    return args == {str}


def _check_params(model: type, params: dict) -> None:
    """Unknown keys are an error naming the closest real one, and a number given to a text field
    (`--set checkpoint=54`, an artifact id) is taken as its text."""
    from flows.context import check_keys, submodel

    try:
        check_keys(model, params)
    except ValueError as e:
        _fail(str(e))

    def texts(model: type, d: dict) -> None:
        for k, v in d.items():
            f = model.model_fields[k]
            sub = submodel(f.annotation)
            if sub is not None and isinstance(v, dict):
                texts(sub, v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and _text_only(f.annotation):
                d[k] = str(v)

    texts(model, params)


class _NoTraceback(logging.Formatter):
    """Prefect's console lines without the traceback (the Prefect UI and `-v` keep it): formats a copy of the record,
    so the other handlers (Prefect's API log handler) still get the exception."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if not record.exc_info:
            return self.inner.format(record)
        copy = logging.makeLogRecord(record.__dict__)
        copy.exc_info = copy.exc_text = copy.stack_info = None
        return self.inner.format(copy)


def _quiet_tracebacks() -> None:
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    for logger in loggers:
        for h in getattr(logger, "handlers", []):
            if isinstance(h, PrefectConsoleHandler) and not isinstance(h.formatter, _NoTraceback):
                h.setFormatter(_NoTraceback(h.formatter))


def _is_manifest_error(e: BaseException) -> bool:
    from storage import ManifestError

    return isinstance(e, ManifestError)


def _rerun_hint() -> str:
    """`s1 rerun RUN_ID` for the run this process started, when some of its stages finished; else nothing (an
    older run of the home, another process's, is not the one that failed here)."""
    import socket

    from storage import open_storage

    try:
        m = open_storage(os.environ["S1_HOME"])[1]
        run = next(iter(m.query("SELECT run_id FROM runs WHERE pid = ? AND host = ? ORDER BY started_at DESC "
                                "LIMIT 1", [os.getpid(), socket.gethostname()])), None)
        done = run is not None and any(r["status"] == "completed" for r in m.stage_runs(run["run_id"]))
    except Exception:  # no manifest yet, or it cannot be read: no hint rather than a second error
        return ""
    return f"; its finished stages are kept: fix the cause, then `s1 rerun {run['run_id']}`" if done else ""


def run_flow(name: str, params: dict, verbose: bool = False) -> dict:
    from pydantic import ValidationError

    flows = _flows()
    if name not in flows:
        _fail(f"unknown flow {name!r}; flows: {', '.join(sorted(flows))}")
    fn, model = flows[name]
    _check_params(model, params)
    try:
        p = model(**params)
    except ValidationError as e:
        _fail(f"bad parameters for flow {name!r}: " + "; ".join(
            f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))
    if not verbose:
        _quiet_tracebacks()
    from flows.prefect_api import wait_ready

    try:
        wait_ready()
    except RuntimeError as e:
        _fail(str(e))
    t0 = time.perf_counter()
    try:
        result = fn(p)
    except Exception as e:
        hint = "" if _is_manifest_error(e) else _rerun_hint()
        lines = [x.strip() for x in str(e).splitlines() if x.strip()] or [""]
        what = lines[0] + (f" … {lines[-1]}" if len(lines) > 1 else "")  # e.g. a trainer's log tail: its last line
        _fail(f"flow {name!r} failed: {type(e).__name__}: {what}{hint}" + ("" if verbose else
                                                                          " (-v shows the traceback)"))
    result["wall_seconds"] = round(time.perf_counter() - t0, 2)
    return result


_HIGHLIGHTS = ("files", "pages", "documents", "routes", "quarantined", "kept", "excluded", "rows", "tokens",
               "vocab_size", "shards", "sft_rows", "rl_prompts", "final_step", "final_loss", "pages_per_s", "step",
               "uri")


def _routes(routes: dict) -> str:
    """Pages per parser route in the docs' words: `cheap 30, high-cost 2 (local 2)`."""
    cheap = sum(v for k, v in routes.items() if str(k).startswith("cheap"))
    high = {k: v for k, v in routes.items() if not str(k).startswith("cheap")}
    out = [f"cheap {cheap}"] if cheap or not high else []
    if high:
        out.append(f"high-cost {sum(high.values())} (" + ", ".join(f"{k} {v}" for k, v in sorted(high.items())) + ")")
    return ", ".join(out)


def _figures(d: dict) -> str:
    def fmt(k, v):
        if k == "routes" and isinstance(v, dict):
            return f"routes: {_routes(v)}"
        if k == "pages_per_s":
            return f"{v:,.1f} pages/s"
        if isinstance(v, float):
            return f"{k}={v:,.2f}"
        if isinstance(v, dict):
            return f"{k}=" + "{" + ", ".join(f"{a}: {b}" for a, b in v.items()) + "}"
        return f"{k}={v}"

    d = dict(d)
    if d.get("pages_per_s") is None and d.get("pages") and not d.get("cached") and d.get("seconds"):
        d["pages_per_s"] = d["pages"] / d["seconds"]  # the stage's wall time when the parse time is not recorded
    return "; ".join(fmt(k, d[k]) for k in _HIGHLIGHTS if d.get(k) is not None)


def _print_summary(result: dict, flow: str = "result") -> None:
    """One row per stage: cached or not, time, artifact, and its key figures (--json prints everything)."""
    table = _narrow_table(f"run {result.get('run_id', '')}  ({result.get('wall_seconds', '?')} s)")
    table.add_column("stage", overflow="fold")
    table.add_column("cache", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    table.add_column("artifact", overflow="fold", max_width=22)
    table.add_column("figures", overflow="fold", ratio=1)

    stages = {k: v for k, v in result.items()
              if isinstance(v, dict) and k != "artifacts" and ("cached" in v or "artifact" in v)}
    if not stages:  # a single-stage flow returns its summary at the top level
        stages = {flow: result}
    for name, d in stages.items():
        arts = d.get("artifact") or ", ".join((d.get("artifacts") or {}).values())
        seconds = d.get("seconds")
        table.add_row(name, "cached" if d.get("cached") else "ran", f"{seconds:.1f}" if seconds else "",
                      str(arts), _figures(d))
    console.print(table)


def _describe_rows(model: type) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Every `--set` key of a model, nested models dotted: (key, default as JSON, description), and notes."""
    from pydantic_core import PydanticUndefined

    from flows.context import OverridesOf, submodel

    out: list[tuple[str, str, str]] = []
    notes: list[str] = []

    def rows(model: type, prefix: str = "") -> None:
        for k, f in model.model_fields.items():
            sub = submodel(f.annotation)
            if sub is not None:
                rows(sub, f"{prefix}{k}.")
                continue
            of = next((m.model for m in f.metadata if isinstance(m, OverridesOf)), None)
            if of is not None:  # a dict of overrides: list the fields it may set
                notes.append(f"{prefix}{k}.* override the recipe; the defaults shown are {of.__name__}'s own.")
                rows(of, f"{prefix}{k}.")
                continue
            default = f.default_factory() if f.default_factory else f.default
            out.append((prefix + k, "(required)" if default is PydanticUndefined else
                        json.dumps(default, default=str), f.description or ""))

    rows(model)
    return out, notes


def _describe(name: str, everything: bool = False, prefix: str = "", as_json: bool = False) -> None:
    """A flow's `--set` keys. Compact by default: the top-level keys with their defaults, then one line per nested
    group (how many keys, the description of the group's field); `everything` lists every key; `prefix` (e.g.
    `pdf.`) keeps the keys under it, in full. A prefix no key starts with fails naming the closest ones."""
    flows = _flows()
    if name not in flows:
        _fail(f"unknown flow {name!r}; flows: {', '.join(sorted(flows))}")
    model = flows[name][1]
    keys, notes = _describe_rows(model)
    if prefix:
        hits = [k for k in keys if k[0].startswith(prefix)]
        if not hits:
            import difflib

            names = [k[0] for k in keys]
            groups = sorted({k.split(".", 1)[0] + "." for k in names if "." in k})
            near = difflib.get_close_matches(prefix, names + groups, 3, 0.5)
            _fail(f"no --set key of flow {name!r} starts with {prefix!r}" + (
                f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else
                f"; groups: {', '.join(groups)}" if groups else ""))
        keys, everything = hits, True
    if as_json:
        console.print_json(json.dumps({"flow": name, "prefix": prefix or None, "keys": [
            {"key": k, "default": json.loads(d) if d != "(required)" else None, "required": d == "(required)",
             "description": desc} for k, d, desc in keys], "notes": [n for n in notes if n.startswith(prefix)]},
            default=str))
        return
    t = _narrow_table(f"s1 run {name} --set KEY=VALUE" + (f"  (keys {prefix}*)" if prefix else ""))
    t.add_column("key", no_wrap=True, overflow="ellipsis", max_width=34)
    t.add_column("default", overflow="ellipsis", no_wrap=True, max_width=18)
    t.add_column("description", overflow="fold", ratio=1)
    if everything:
        for k, d, desc in keys:
            t.add_row(k, d, desc)
        t.caption = " ".join(n for n in notes if n.startswith(prefix)) or None
        console.print(t)
        return
    groups: dict[str, list] = {}
    for k, d, desc in keys:
        if "." not in k:
            t.add_row(k, d, desc)
        else:
            groups.setdefault(k.split(".", 1)[0], []).append(k)
    for g, ks in groups.items():
        f = model.model_fields.get(g)
        desc = (f.description or "") if f is not None else ""
        t.add_row(f"{g}.*", f"{len(ks)} keys", desc)
    console.print(t)
    if groups:
        err.print(f"s1 run {name} --describe {next(iter(groups))}. lists one group's keys; --describe-all every key")


def _list_flows(as_json: bool) -> None:
    rows = [{"flow": name, "what": ((fn.fn.__doc__ or "").strip().splitlines() or [""])[0]}
            for name, (fn, _) in sorted(_flows().items())]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    t = _narrow_table("flows (s1 run <flow>)")
    t.add_column("flow", no_wrap=True)
    t.add_column("what it does", ratio=1)
    for r in rows:
        t.add_row(r["flow"], r["what"])
    console.print(t)


@app.command()
def run(flow: Optional[str] = typer.Argument(None, help="Flow name (s1 run --list shows them)."),
        key_prefix: Optional[str] = typer.Argument(None, metavar="[KEY_PREFIX]", help="With --describe: only the "
                                                   "--set keys starting with this (e.g. pdf.), in full."),
        list_: bool = typer.Option(False, "--list", help="List the flows and exit."),
        describe: bool = typer.Option(False, "--describe", help="The flow's parameters (--set keys), compact: "
                                      "top-level keys and one line per nested group; `--describe pdf.` the keys "
                                      "under pdf.; then exit."),
        describe_all: bool = typer.Option(False, "--describe-all", help="Every --set key with default and "
                                          "description; then exit."),
        describe_keys: Optional[str] = typer.Option(None, "--describe-keys", help="Same as --describe PREFIX."),
        input: Optional[list[str]] = typer.Option(None, "--input", "-i", help="Input files, folders or globs."),
        config: Optional[Path] = typer.Option(None, "--config", help="JSON / TOML / YAML file of flow parameters."),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="key=value (dotted keys, JSON values)."),
        home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt, as_json: bool = JsonOpt,
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs.")) -> None:
    """Run one flow (pdf, pipeline, ...) and print its summary."""
    _env(home, verbose, artifacts)
    if list_ or flow is None:
        _list_flows(as_json)
        if flow is None and not list_:
            raise typer.Exit(2)
        return
    if describe or describe_all or describe_keys:
        _describe(flow, everything=describe_all, prefix=describe_keys or key_prefix or "", as_json=as_json)
        return
    if key_prefix is not None:
        _fail(f"unexpected argument {key_prefix!r}: a key prefix goes with --describe (s1 run {flow} --describe "
              f"{key_prefix}); inputs go with --input")
    _start_work()  # the Prefect API boots while the flow's modules are imported below
    params: dict = _load_config(config) if config else {}
    if input:
        params["input"] = list(input)
    for kv in set_ or []:
        if "=" not in kv:
            _fail(f"--set expects key=value, got {kv!r}")
        k, v = kv.split("=", 1)
        _set_path(params, k, _parse_value(v))
    params["home"] = os.environ["S1_HOME"]
    if os.environ.get("S1_ARTIFACTS"):
        params["artifacts"] = os.environ["S1_ARTIFACTS"]
    result = run_flow(flow, params, verbose)
    console.print_json(json.dumps(result, default=str)) if as_json else _print_summary(result, flow)


@app.command("describe")
def describe_cmd(flow: str = typer.Argument(..., help="Flow name (s1 run --list shows them)."),
                 key_prefix: Optional[str] = typer.Argument(None, metavar="[KEY_PREFIX]", help="Only the keys "
                                                            "starting with this (e.g. pdf.), in full."),
                 all_: bool = typer.Option(False, "--all", help="Every key, in full."),
                 home: Optional[str] = HomeOpt, as_json: bool = JsonOpt) -> None:
    """A flow's --set keys (the same as `s1 run FLOW --describe [KEY_PREFIX]`)."""
    _env(home)
    _describe(flow, everything=all_, prefix=key_prefix or "", as_json=as_json)


@app.command()
def demo(home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt, as_json: bool = JsonOpt,
         verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Run the end-to-end pipeline on small real inputs (../shared/data when present, bundled samples otherwise)."""
    _env(home, verbose, artifacts)
    _start_work()
    from flows.pipeline import demo_params

    params = demo_params(os.environ["S1_HOME"])
    if os.environ.get("S1_ARTIFACTS"):
        params["artifacts"] = os.environ["S1_ARTIFACTS"]
    err.print(f"s1 demo: storage root {os.environ['S1_HOME']}")
    result = run_flow("pipeline", params, verbose)
    console.print_json(json.dumps(result, default=str)) if as_json else _print_summary(result)


@app.command()
def rerun(run_id: str, home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt,
          as_json: bool = JsonOpt, verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Finish a failed or killed run: same flow, same parameters (its artifacts root unless --artifacts is given);
    committed work is served from cache."""
    _env(home, verbose, artifacts)
    from storage import open_storage

    _, m = open_storage(os.environ["S1_HOME"])
    row = m.get_run(run_id)
    if row is None:  # a unique part of the id (its tail, as `s1 runs` may show it) is enough
        like = [r for r in m.query("SELECT run_id FROM runs WHERE contains(run_id, ?)", [run_id])]
        row = m.get_run(like[0]["run_id"]) if len(like) == 1 else None
        if len(like) > 1:
            _fail(f"{run_id!r} matches {len(like)} runs: " + ", ".join(r["run_id"] for r in like[:5]))
    if row is None:
        _fail(f"no run {run_id!r} in {os.environ['S1_HOME']}/manifest.duckdb (see `s1 runs`)")
    run_id = row["run_id"]
    _start_work()
    params = _drop_masked(json.loads(row["params_json"] or "{}"))
    flows = _flows()
    if row["flow"] in flows:
        _drop_computed(flows[row["flow"]][1], params)
    params.update(home=os.environ["S1_HOME"], rerun_of=run_id)
    if artifacts:
        params["artifacts"] = os.environ["S1_ARTIFACTS"]
    result = run_flow(row["flow"], params, verbose)
    console.print_json(json.dumps(result, default=str)) if as_json else _print_summary(result, row["flow"])


def _read_manifest(home: Optional[str], artifacts: Optional[str] = None):
    from storage import ManifestError, open_storage

    _env(home, artifacts=artifacts)
    try:
        return open_storage(os.environ["S1_HOME"], read_only=True)[1]
    except ManifestError as e:
        _fail(str(e))


def _narrow_table(title: str | None = None) -> Table:
    """A borderless table: columns separated by two spaces, so 80 columns hold ids and status words whole."""
    from rich import box

    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True,
                 title_justify="left")


def _short_time(ts) -> str:
    """`2026-12-04 20:31:07.123+00` -> `12-04 20:31`."""
    return str(ts)[5:16] if ts else ""


def _duration(start, end) -> str:
    try:
        s = (end - start).total_seconds()
    except Exception:
        return ""
    return f"{s:.0f}s" if s < 100 else f"{s / 60:.0f}m" if s < 6000 else f"{s / 3600:.1f}h"


@app.command()
def runs(home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt, as_json: bool = JsonOpt,
         limit: int = typer.Option(30, help="How many, newest first.")) -> None:
    """List runs with their status and the final state of their stages (done/cached/failed)."""
    from dashboards.queries import run_stage_counts

    m = _read_manifest(home, artifacts)
    rows = m.list_runs(limit)
    stages = run_stage_counts(m)  # a rerun's abandoned attempt is not counted: the stage's last state is
    for r in rows:
        r.update({k: stages.get(r["run_id"], {}).get(k) or 0 for k in ("completed", "cached", "failed")})
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    t = _narrow_table("runs (s1 rerun RUN_ID finishes a failed or killed one)")
    t.add_column("run_id", no_wrap=True)  # whole, to copy into `s1 rerun`
    t.add_column("flow", overflow="fold")
    t.add_column("status", no_wrap=True, min_width=9)  # never cut: completed, running, failed, killed
    t.add_column("try", justify="right", no_wrap=True)
    t.add_column("started", no_wrap=True)
    t.add_column("took", justify="right", no_wrap=True)
    t.add_column("d/c/f", justify="right", no_wrap=True)
    for r in rows:
        t.add_row(r["run_id"], r["flow"], r["status"], str(r["attempt"]), _short_time(r["started_at"]),
                  _duration(r["started_at"], r["finished_at"]), f"{r['completed']}/{r['cached']}/{r['failed']}")
    console.print(t)
    err.print("d/c/f: stages done / cached / failed (final state; a rerun's abandoned attempt is not counted)")


def _relative_uri(uri: str, root: str) -> str:
    """An artifact's URI relative to the artifacts root (`documents/3f2a…/`), else the URI itself."""
    u, r = str(uri), str(root).rstrip("/")
    return u[len(r) + 1:] if r and u.startswith(r + "/") else u


def _middle(text: str, width: int) -> str:
    """Shorten from the middle: the start (the name) and the end (the file) are what a reader needs."""
    if len(text) <= width or width < 5:
        return text
    keep = width - 1
    return text[:keep // 2] + "…" + text[len(text) - (keep - keep // 2):]


@app.command()
def lineage(artifact: str = typer.Argument(..., help="name (latest version), name:version, or artifact id."),
            home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt, as_json: bool = JsonOpt,
            full: bool = typer.Option(False, "--full", help="Whole URIs and sha256, every partition artifact on "
                                      "its own row.")) -> None:
    """Every ancestor of an artifact, down to the source files and their sha256. URIs are shown relative to the
    artifacts root, partition artifacts (web_partition, curate_filter, ...) and more than 8 sources of a name one row
    per name; --full shows every one, whole."""
    from dashboards.queries import is_partition_artifact
    from storage import ManifestError, open_storage

    m = _read_manifest(home, artifacts)
    try:
        a = m.resolve_artifact(artifact)
    except ManifestError as e:
        _fail(str(e))
    anc = m.ancestors(a["artifact_id"])
    if as_json:
        console.print_json(json.dumps({"artifact": a, "ancestors": anc}, default=str))
        return
    root = open_storage(os.environ["S1_HOME"], read_only=True)[0].artifacts_url
    rows: list[dict] = [{**a, "depth": 0}]
    groups: dict[tuple, dict] = {}
    from collections import Counter

    many = Counter((r["depth"], r["name"]) for r in anc)
    for r in anc:  # sources one per row up to 8 of a name, partitions always one row per name
        if full or not is_partition_artifact(r["name"]) and (r["kind"] != "source" or many[r["depth"], r["name"]] <= 8):
            rows.append(r)
            continue
        g = groups.get((r["depth"], r["name"]))
        if g is None:
            groups[(r["depth"], r["name"])] = g = {**r, "n": 0, "rows": 0}
            rows.append(g)
        g["n"] += 1
        g["rows"] = (g["rows"] or 0) + (r["rows"] or 0)
    t = _narrow_table(f"lineage of {a['name']}:{a['version']} (id {a['artifact_id']})")
    t.add_column("d", justify="right", no_wrap=True)
    t.add_column("artifact", overflow="fold")
    t.add_column("id", justify="right", no_wrap=True)
    t.add_column("rows", justify="right", no_wrap=True)
    t.add_column("sha256" if full else "sha256 / fp", no_wrap=not full, overflow="fold")
    t.add_column("uri", no_wrap=not full, overflow="fold")
    width = max(20, console.width - 58)  # what the other columns leave for the URI at this terminal width
    for r in rows:
        n = r.get("n", 1)
        sha = (r["content_sha256"] or "") if r["kind"] == "source" else r["fingerprint"] or ""
        uri = r["uri"] if full else _relative_uri(r["uri"], root)
        t.add_row(str(r["depth"]), f"{r['name']}:{r['version']}" if n == 1 else f"{r['name']} ×{n}",
                  str(r["artifact_id"]) if n == 1 else "", f"{r['rows']:,}" if r["rows"] else "",
                  sha if full else sha[:12], uri if full else (_middle(uri, width) if n == 1 else ""))
    console.print(t)
    if not full:
        err.print(f"URIs relative to {root}; partitions one row per name (--full: every one, whole)")


@app.command()
def sql(query: str = typer.Argument(..., help="One SELECT / WITH query over the manifest's tables."),
        home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt, as_json: bool = JsonOpt) -> None:
    """Run one read-only SELECT / WITH query over the manifest (tables runs, stage_runs, artifacts, ...; view
    lineage), with DuckDB's external access off: no file is read or written but the manifest."""
    from storage import ManifestError

    m = _read_manifest(home, artifacts)
    try:
        rows = m.select(query)
    except ManifestError as e:
        _fail(str(e))
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    t = Table()
    for c in (rows[0].keys() if rows else []):
        t.add_column(str(c), overflow="fold")
    for r in rows:
        t.add_row(*[str(v) for v in r.values()])
    console.print(t)
    err.print(f"{len(rows)} row(s)")


@app.command()
def dashboard(home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt,
              port: int = typer.Option(8050, help="Port (loopback only unless --host is given)."),
              host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes it to the network.")) -> None:
    """Serve the read-only manifest dashboard (runs, corpus funnel, shards, training, RL, lineage)."""
    _env(home, artifacts=artifacts)
    from dashboards.app import serve as serve_dashboard

    err.print(f"dashboard on http://{host}:{port}/ over {os.environ['S1_HOME']}/manifest.duckdb")
    serve_dashboard(os.environ["S1_HOME"], host=host, port=port)


bootcamp_app = typer.Typer(help="The verifiable task library.", no_args_is_help=True)
app.add_typer(bootcamp_app, name="bootcamp")


@bootcamp_app.command("list")
def bootcamp_list(as_json: bool = JsonOpt, home: Optional[str] = HomeOpt,
                  artifacts: Optional[str] = ArtifactsOpt) -> None:
    """Every task with its domain, algorithm class and difficulty knobs."""
    from s1data.bootcamp import describe_registry, list_configs

    rows = describe_registry()
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    t = Table(title=f"{len(rows)} tasks, {len(list_configs())} task configs")
    for c in ("name", "family", "domain", "algorithm_class", "configs", "knobs"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(r["name"], str(r.get("family") or ""), r["domain"], str(r.get("algorithm_class") or ""),
                  str(r.get("configs", "")), ", ".join(r.get("knobs", {})))
    console.print(t)
    fam: dict[str, list[int]] = {}
    for r in rows:
        fam.setdefault(str(r.get("family") or ""), []).append(int(r.get("configs") or 0))
    f = Table(title="task families by area (tail: TAIL length sweeps; every other row is one verifier)")
    for c in ("area", "task families", "task configs"):
        f.add_column(c)
    for name, counts in sorted(fam.items()):
        f.add_row(name, str(len(counts)), str(sum(counts)))
    other = [c for n, cs in fam.items() if n != "tail" for c in cs]
    f.add_row("all but tail", str(len(other)), str(sum(other)))
    console.print(f)


api_app = typer.Typer(help="A Prefect API kept running for a home, so each `s1 run` starts none.",
                       no_args_is_help=True)
app.add_typer(api_app, name="api")


@api_app.command("start")
def api_start(home: Optional[str] = HomeOpt, as_json: bool = JsonOpt,
              idle_minutes: float = typer.Option(30.0, "--idle-minutes", help="Stop after this long without a "
                                                 "request.")) -> None:
    """Start (or find) this home's kept Prefect API: every later `s1 run`, `s1 demo`, `s1 rerun` of the home
    attaches to it instead of starting a temporary one (seconds saved per command). Runs show in its database
    (<home>/prefect); `s1 serve` starts one with a UI instead."""
    from flows.prefect_api import start_kept

    _env(home)
    try:
        rec = start_kept(os.environ["S1_HOME"], idle_minutes)
    except RuntimeError as e:
        _fail(str(e))
    if as_json:
        console.print_json(json.dumps(rec))
        return
    console.print(f"Prefect API {'started' if rec['started'] else 'already running'} at {rec['url']} (pid "
                  f"{rec['pid']}); stops after {rec.get('idle_minutes', '?')} min idle or `s1 api stop`")


@api_app.command("status")
def api_status(home: Optional[str] = HomeOpt, as_json: bool = JsonOpt) -> None:
    """The Prefect API this home's commands attach to, if any (kept by `s1 api start`, or `s1 serve`'s)."""
    from flows.prefect_api import recorded

    _env(home)
    rec = recorded(os.environ["S1_HOME"])
    if as_json:
        console.print_json(json.dumps(rec))
        return
    console.print(f"{rec['url']} (pid {rec['pid']}, {'s1 api start' if rec.get('kept') else 's1 serve'})" if rec
                  else "none: each run starts a temporary Prefect API (s1 api start keeps one)")


@api_app.command("stop")
def api_stop(home: Optional[str] = HomeOpt) -> None:
    """Stop the Prefect API `s1 api start` kept for this home."""
    from flows.prefect_api import stop_kept

    _env(home)
    rec = stop_kept(os.environ["S1_HOME"])
    console.print(f"stopped the Prefect API at {rec['url']} (pid {rec['pid']})" if rec else
                  "no kept Prefect API for this home (an `s1 serve` one stops with Ctrl-C)")


@app.command()
def serve(home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt,
          port: int = typer.Option(4200, help="Port of the Prefect server started here."),
          no_server: bool = typer.Option(False, "--no-server",
                                         help="Use the server at $PREFECT_API_URL instead of starting one.")) -> None:
    """Start a Prefect server (SQLite; Postgres via PREFECT_API_DATABASE_CONNECTION_URL) and serve every flow as a
    deployment: open the UI, pick a flow, fill its form, run. Ctrl-C stops both."""
    import subprocess
    import urllib.request

    _env(home, verbose=True, artifacts=artifacts)
    _guard_processes()
    os.environ["PREFECT_UI_ENABLED"] = "true"
    server = None
    if not no_server:
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        prefect_bin = str(Path(sys.executable).parent / "prefect")  # this environment's, activated or not
        server = subprocess.Popen([prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  env=os.environ.copy())
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(os.environ["PREFECT_API_URL"] + "/health", timeout=2)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    server.kill()
                    _fail("the Prefect server did not answer /api/health within 180 s")
                time.sleep(1)
        err.print(f"Prefect UI: http://127.0.0.1:{port}/")
        import json

        _api_file(Path(os.environ["S1_HOME"])).write_text(json.dumps({"url": os.environ["PREFECT_API_URL"],
                                                                      "pid": server.pid}))
    from flows.deployments import serve_all

    try:
        serve_all(os.environ["S1_HOME"], artifacts=os.environ.get("S1_ARTIFACTS"))
    finally:
        if server is not None:
            _api_file(Path(os.environ["S1_HOME"])).unlink(missing_ok=True)
            server.terminate()


@app.command()
def deploy(home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt,
           flow: Optional[list[str]] = typer.Option(None, "--flow", help="Only these flows (default: all).")) -> None:
    """Register the flows on process work pools per machine class (s1-cpu, s1-gpu) at $PREFECT_API_URL."""
    _env(home, verbose=True, artifacts=artifacts)
    if not os.environ.get("PREFECT_API_URL"):
        _fail("set PREFECT_API_URL to the server, e.g. http://127.0.0.1:4200/api")
    from flows.deployments import deploy_to_pools

    for pool, names in deploy_to_pools(os.environ["S1_HOME"], flow or None,
                                       artifacts=os.environ.get("S1_ARTIFACTS")).items():
        console.print(f"{pool}: {', '.join(names)}  ->  prefect worker start --pool {pool} --type process")


@app.command()
def gc(home: Optional[str] = HomeOpt, artifacts: Optional[str] = ArtifactsOpt, as_json: bool = JsonOpt,
       older_than: float = typer.Option(3600.0, "--older-than", help="Only orphans whose newest file is at least "
                                        "this many seconds old (a run in progress writes before it records)."),
       yes: bool = typer.Option(False, "--yes", "--delete", help="Delete the orphans listed (default: list only)."),
       dry_run: bool = typer.Option(False, "--dry-run", help="List only, even with --yes.")) -> None:
    """List artifact folders / object-store prefixes that no manifest row points at (left by killed or failed runs),
    and staging folders under tmp/. Nothing is deleted unless --yes (or --delete) is given. One manifest owns one
    artifacts root: do not point two homes' --artifacts at the same prefix and gc either."""
    from storage import open_storage
    from storage.gc import delete, orphans

    _env(home, artifacts=artifacts)
    root, m = open_storage(os.environ["S1_HOME"])
    found = orphans(root, m, older_than)
    remove = yes and not dry_run
    if remove:
        delete(found)
    if as_json:
        console.print_json(json.dumps({"artifacts": root.artifacts_url, "deleted": remove,
                                       "orphans": [o.__dict__ for o in found]}, default=str))
        return
    t = Table(title=f"orphans under {root.artifacts_url} (older than {older_than:g} s)")
    for c in ("uri", "kind", "files", "bytes", "age_s"):
        t.add_column(c, overflow="fold")
    for o in found:
        t.add_row(o.uri, o.kind, str(o.files), f"{o.bytes:,}", f"{o.age_s:,.0f}")
    console.print(t)
    total = sum(o.bytes for o in found)
    err.print(f"{len(found)} orphan(s), {total:,} bytes: " + ("deleted" if remove else "kept (s1 gc --yes deletes)"))


@app.command("serve-model")
def serve_model_cmd(model: str = typer.Option(..., "--model", help="HF checkpoint directory (config.json + "
                                              "safetensors) to serve."),
                    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="Tokenizer directory "
                                                            "(default: the model directory)."),
                    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
                    port: int = typer.Option(30000, help="Port; 0 picks a free one (see --ready-file)."),
                    served_model_name: str = typer.Option("policy", help="Model name the server answers to."),
                    max_batch_size: int = typer.Option(64, help="Rows per forward of the engine."),
                    ready_file: Optional[str] = typer.Option(None, "--ready-file", help="Write {port, base_url} "
                                                             "here once listening.")) -> None:
    """Our rollout engine behind an OpenAI-compatible server (/v1/completions, /v1/chat/completions) with SGLang's
    weight reload (POST /update_weights_from_disk) and /get_model_info (weight_version, weights_sha256)."""
    from s1model.serve import serve_model

    if not Path(model).is_dir():
        _fail(f"--model {model} is not a directory")
    serve_model(model, tokenizer, host, port, served_model_name, max_batch_size, ready_file)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
