"""Run context shared by every flow: the storage root, the manifest, the run row, and stage bookkeeping.

A stage is cached when every artifact it produces already exists in the manifest under the stage's fingerprint:
it then records a `cached` stage row and returns those artifacts without doing any work. That is the whole of
"rerun failed stages": `s1 rerun RUN_ID` and Prefect's Retry both call the same flow with the same parameters.
"""

from __future__ import annotations

import logging
import os
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Iterator, get_args

from pydantic import AfterValidator, BaseModel, Field

from storage import Loc, Manifest, StorageRoot, open_storage


def submodel(annotation) -> type[BaseModel] | None:
    """The pydantic model inside a field's annotation (`PdfConfig`, `PdfConfig | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(submodel, get_args(annotation)) if m is not None), None)


def field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted field name of `model`, nested models included."""
    out = []
    for k, f in model.model_fields.items():
        out.append(prefix + k)
        sub = submodel(f.annotation)
        if sub is not None:
            out += field_paths(sub, f"{prefix}{k}.")
    return out


def check_keys(model: type[BaseModel], data: dict, what: str = "parameter", prefix: str = "") -> None:
    """ValueError for the first key of `data` (nested dicts of nested models too) that `model` has no field for,
    naming the closest real one. pydantic would drop it, and a typo would silently run with the default."""
    import difflib

    for k, v in data.items():
        f = model.model_fields.get(k)
        if f is None:
            paths = field_paths(model)
            hint = [p for p in paths if p.endswith("." + k)] or difflib.get_close_matches(k, paths, 1)
            raise ValueError(f"unknown {what} {prefix + k!r}" + (
                f"; did you mean {prefix + hint[0]!r}?" if hint else f"; known: {', '.join(paths)}"))
        sub = submodel(f.annotation)
        if sub is not None and isinstance(v, dict):
            check_keys(sub, v, what, f"{prefix}{k}.")


@dataclass(frozen=True)
class OverridesOf:
    """Marker on an `overrides_of` field: the model whose fields its keys are (`s1 run FLOW --describe` lists them)."""
    model: type


def overrides_of(model: type[BaseModel]):
    """The type of a dict field whose keys override `model`'s fields (a recipe's): unknown keys are rejected."""
    def check(v: dict) -> dict:
        check_keys(model, v, f"{model.__name__} field")
        return v

    return Annotated[dict, AfterValidator(check), OverridesOf(model)]


class RunParams(BaseModel):
    """Parameters every flow takes."""

    home: str | None = Field(None, description="Storage root ($S1_HOME, default ./s1-home): the manifest, local.")
    artifacts: str | None = Field(None, description="Where artifacts live: a local folder or an fsspec URL "
                                  "(s3://bucket/prefix; S3 set up by the AWS_* environment variables). Default "
                                  "$S1_ARTIFACTS, else <home>/artifacts.")
    rerun_of: str | None = Field(None, description="Finish this run id instead of starting a new one (s1 rerun).")


def flow_logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:
        return logging.getLogger("s1.flows")


@dataclass
class RunContext:
    root: StorageRoot
    manifest: Manifest
    run_id: str
    flow: str
    log: logging.Logger | logging.LoggerAdapter = field(default_factory=flow_logger)
    summary: dict = field(default_factory=dict)

    @contextmanager
    def stage(self, stage: str, fingerprint: str, outputs: list[str]) -> Iterator["StageHandle"]:
        """Run a stage unless all of `outputs` exist under `fingerprint`; record the stage row either way."""
        found = {a["name"]: a for a in self.manifest.artifacts_for(stage, fingerprint)}
        lost = []
        for n in outputs:
            problem = self.root.check(found[n]) if n in found else None
            if problem:
                lost.append(n)
                self.log.warning("stage %s: %s:%s at %s does not match what was committed (%s); redoing the "
                                 "stage", stage, n, found[n]["version"], found[n]["uri"], problem)
        if all(name in found for name in outputs) and not lost:
            sr = self.manifest.start_stage(self.run_id, stage, fingerprint, status="cached")
            self.log.info("stage %s cached (fingerprint %s)", stage, fingerprint[:12])
            yield StageHandle(self, stage, fingerprint, sr, cached=True, artifacts=found)
            publish_stage(self, stage, sr, found, cached=True)
            return
        sr = self.manifest.start_stage(self.run_id, stage, fingerprint)
        handle = StageHandle(self, stage, fingerprint, sr, cached=False, artifacts={})
        try:
            yield handle
        except BaseException as e:
            self.manifest.finish_stage(sr, "failed", f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2000:]}")
            raise
        self.manifest.finish_stage(sr, "completed")
        publish_stage(self, stage, sr, handle.artifacts, cached=False)


@dataclass
class StageHandle:
    ctx: RunContext
    stage: str
    fingerprint: str
    stage_run_id: str
    cached: bool
    artifacts: dict[str, dict]

    def commit(self, staging: str | Path | Loc, name: str, kind: str, parents: list[int],
               fingerprint: str | None = None, **fields) -> int:
        """Put a filled staging folder in place (local: rename to artifacts/<name>/<fingerprint>/; object store:
        verify the unique prefix, or upload a local folder to one), then record it and its lineage: the manifest row
        is the completion marker.

        `fingerprint` defaults to the stage's; a stage that finished only part of its inputs passes the fingerprint
        of what it did contain, so the next run is not served that partial artifact from cache.
        """
        fp = fingerprint or self.fingerprint
        artifact_id = record_committed(self.ctx, staging, name=name, stage=self.stage, fingerprint=fp, kind=kind,
                                       stage_run_id=self.stage_run_id, parents=parents, **fields)
        self.artifacts[name] = self.ctx.manifest.resolve_artifact(artifact_id)
        return artifact_id


def record_committed(ctx: "RunContext", staging, *, name: str, fingerprint: str, expect: dict | None = None,
                     content_sha256: str | None = None, **fields) -> int:
    """Commit `staging` under name/fingerprint and record its manifest row (`fields` go to record_artifact).

    The content hash is taken from local bytes when the staging folder is local (before an upload), else read back
    from the store (which verifies every byte is there) unless the writer passed its own `content_sha256`. An
    artifact already recorded under the same fingerprint whose files were lost is pointed at the new copy."""
    from storage import file_digests, file_infos, is_remote, loc
    from storage.io import tree_sha256_of

    src = loc(staging)
    single = Path(str(src)).is_file() if not is_remote(src) else src.fs.isfile(src.path)  # a one-file artifact
    if not is_remote(src) and ctx.root.remote:
        files = file_digests(src)  # local bytes, before the upload
        final = ctx.root.commit(src, name, fingerprint, expect=expect)
    else:
        final = ctx.root.commit(src, name, fingerprint, expect=expect)
        # a writer that hashed its own upload is trusted for the tree hash; sizes are checked on every hit
        files = ({rel: [size, None] for rel, size in file_infos(final).items()} if content_sha256
                 else file_digests(final))
    if not content_sha256:
        content_sha256 = (next(iter(files.values()))[1] if single and len(files) == 1
                          else tree_sha256_of({rel: sha for rel, (_, sha) in files.items()}))
    size = sum(v[0] for v in files.values())
    uri = str(final)
    aid = ctx.manifest.record_artifact(name=name, fingerprint=fingerprint, uri=uri, bytes=size,
                                       content_sha256=content_sha256, files=files, **fields)
    row = ctx.manifest.resolve_artifact(aid)
    if row["uri"] != uri or row["content_sha256"] != content_sha256 or row.get("files_json") is None:
        # the recorded copy was lost or altered (a cache hit found it so) and this run wrote it again
        ctx.manifest.relocate_artifact(aid, uri, size, content_sha256, files)
    return aid


def discover_sources(patterns: list[str], suffixes: tuple[str, ...]) -> list[dict]:
    """Files named by paths, folders (recursive, names ending in `suffixes`, any case) and globs, each hashed once;
    the same bytes under two paths are one source. Returns [{path, sha256, bytes}] sorted by sha256. Inputs that
    cannot be used are left out: `discover_inputs` returns them too, as quarantine rows."""
    return discover_inputs(patterns, suffixes)[0]


def discover_inputs(patterns: list[str], suffixes: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """(sources as `discover_sources` returns them, rejected inputs as quarantine rows {source_uri, reason, detail}).

    Inputs are only what lies under the given paths. Nothing is opened before its path is checked, and a
    rejected input's bytes are never read:
    `input_symlink_outside` (a link leaving the folder or glob base it was found under), `input_symlink_loop`,
    `input_dangling_symlink`, `input_not_regular_file` (FIFO, socket, device: reading one could block forever),
    `input_name_not_utf8` (a file name the manifest cannot hold), `input_unreadable` (permission, I/O error),
    `input_duplicate` (the same bytes as another input, which is the one source read)."""
    import glob

    from storage import file_sha256

    accepted: dict[str, str] = {}  # resolved path -> the path it was found as
    rejected: dict[str, dict] = {}

    def reject(path: str, reason: str, detail: str) -> None:
        uri = _printable(path)
        rejected.setdefault(uri, {"source_uri": uri, "reason": reason, "detail": detail})

    def consider(path: str, base: str | None, named: bool) -> None:
        """One candidate: `base` is the resolved folder it must stay under (None: named explicitly)."""
        if not _utf8(path):
            reject(path, "input_name_not_utf8", "file name is not valid UTF-8")
            return
        try:
            st = os.stat(path)  # follows links
        except OSError as e:
            if os.path.islink(path):
                import errno

                loop = e.errno == errno.ELOOP
                reject(path, "input_symlink_loop" if loop else "input_dangling_symlink",
                       "symbolic link loop" if loop else f"symbolic link to a missing path {os.readlink(path)!r}")
            else:
                reject(path, "input_unreadable", f"{type(e).__name__}: {e.strerror}")
            return
        real = os.path.realpath(path)
        if base is not None and os.path.islink(path) and not _under(real, base):
            reject(path, "input_symlink_outside", f"symbolic link leaves the input folder {base}")
            return
        import stat

        if stat.S_ISDIR(st.st_mode):
            return
        if not stat.S_ISREG(st.st_mode):
            if named or path.lower().endswith(suffixes):
                kind = ("FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode)
                        else "device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "special file")
                reject(path, "input_not_regular_file", f"a {kind}, not a regular file")
            return
        if named or path.lower().endswith(suffixes):
            accepted.setdefault(real, path)

    for pat in patterns:
        p = os.path.expanduser(pat)
        if os.path.isdir(p) and not os.path.islink(p):
            base = os.path.realpath(p)
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                for name in sorted(dirnames):  # links to folders are not followed; ones that leave are reported
                    full = os.path.join(dirpath, name)
                    if os.path.islink(full):
                        consider(full, base, named=False)
                if not _utf8(dirpath):
                    reject(dirpath, "input_name_not_utf8", "folder name is not valid UTF-8; not searched")
                    dirnames.clear()
                    continue
                for name in sorted(filenames):
                    consider(os.path.join(dirpath, name), base, named=False)
        elif os.path.lexists(p):
            consider(p, None, named=True)
        else:
            hits = glob.glob(p, recursive=True)
            if not hits:
                raise FileNotFoundError(f"--input {pat!r} matches no file")
            base = os.path.realpath(_glob_base(p))
            for h in sorted(hits):
                if not os.path.isdir(h) or os.path.islink(h):
                    consider(h, base, named=True)  # a glob names its files (any suffix), within its base folder
    seen: dict[str, dict] = {}
    for real in sorted(accepted):
        try:
            sha, size = file_sha256(real), os.path.getsize(real)
        except OSError as e:
            reject(accepted[real], "input_unreadable", f"{type(e).__name__}: {e.strerror}")
            continue
        first = seen.setdefault(sha, {"path": real, "sha256": sha, "bytes": size})
        if first["path"] != real:  # accounted for: read once, under the first path
            reject(accepted[real], "input_duplicate", f"same bytes as {first['path']} (sha256 {sha[:16]}), read once")
    return sorted(seen.values(), key=lambda s: s["sha256"]), sorted(rejected.values(), key=lambda q: q["source_uri"])


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:  # os.walk hands undecodable bytes back as lone surrogates
        return False


def _printable(path: str) -> str:
    """A path the manifest can hold: undecodable bytes of a file name written as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _under(real: str, base: str) -> bool:
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _glob_base(pattern: str) -> str:
    """The folder part of a glob before its first wildcard (`crawl/*.warc.gz` -> `crawl`)."""
    parts = []
    for part in pattern.split(os.sep):
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return os.sep.join(parts) or "."


def split_cached_partitions(ctx: RunContext, name: str, stage: str, parent_stage_run_id: str, sources: list[dict],
                            partition_fp) -> tuple[dict[str, dict], list[dict]]:
    """({sha256: committed partition artifact}, [sources to mine, each with its `pfp`]); the committed ones get
    `cached` stage rows under `parent_stage_run_id`."""
    partitions, todo, cached = {}, [], []
    for s in sources:
        pfp = partition_fp(s["sha256"])
        hit = ctx.manifest.find_artifact(name, pfp)
        problem = ctx.root.check(hit) if hit else None
        if problem:
            ctx.log.warning("partition %s of %s at %s does not match what was committed (%s); redoing it",
                            s["sha256"][:12], name, hit["uri"], problem)
            hit = None
        if hit:
            partitions[s["sha256"]] = hit
            cached.append((s["sha256"], pfp))
        else:
            todo.append({**s, "pfp": pfp})
    ctx.manifest.record_cached_stages(ctx.run_id, stage, parent_stage_run_id, cached)
    return partitions, todo


def commit_partition(ctx: RunContext, *, name: str, stage: str, fingerprint: str, out_dir: str | Path | Loc,
                     parent_stage_run_id: str, partition_key: str, source_id: int, rows: int, meta: dict,
                     quarantine: list[dict], seconds: float = 0.0, tokens: int | None = None,
                     extra_parents: tuple[int, ...] = (), expect: dict[str, int] | None = None,
                     content_sha256: str | None = None) -> dict:
    """Put a partition folder in place (local rename, or verify the unique prefix a worker wrote on the object
    store, `expect` being the worker's {file: bytes}), then record its artifact, lineage to its source file (and
    `extra_parents`), quarantine rows and its `completed` stage row in one transaction (a kill never leaves one
    without the other). Returns the artifact row."""
    from datetime import datetime, timedelta, timezone

    from storage import new_id

    started = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    aid = record_committed(
        ctx, out_dir, name=name, stage=stage, fingerprint=fingerprint, kind="folder", stage_run_id=new_id("sr"),
        parents=[source_id, *extra_parents], rows=rows, tokens=tokens, meta=meta, expect=expect,
        content_sha256=content_sha256, quarantine=quarantine,
        stage_row={"run_id": ctx.run_id, "stage": stage, "started_at": started,
                   "parent_stage_run_id": parent_stage_run_id, "partition_key": partition_key})
    return ctx.manifest.resolve_artifact(aid)


def _in_flow_run() -> bool:
    try:
        from prefect.context import FlowRunContext

        return FlowRunContext.get() is not None
    except Exception:
        return False


def publish_stage(ctx: RunContext, stage: str, stage_run_id: str, artifacts: dict[str, dict], cached: bool) -> None:
    """Prefect artifacts for the UI: a markdown summary (outputs, counts, throughput, links to the manifest entry)
    and a table of quarantined inputs with reasons. Best effort: the manifest is the record, this is the view."""
    if not _in_flow_run():
        return
    import json

    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    try:
        rows = []
        for name, a in artifacts.items():
            rows.append(f"| `{a['name']}:{a['version']}` | {a['artifact_id']} | {a.get('kind')} | {a.get('rows') or ''} "
                        f"| {a.get('tokens') or ''} | {a.get('bytes') or ''} | `s1 lineage {a['name']}:{a['version']}` "
                        f"| [{a['uri']}]({a['uri'] if '://' in a['uri'] else 'file://' + a['uri']}) |")
        metrics = ctx.manifest.query("SELECT name, value FROM metrics WHERE stage_run_id = ? AND step IS NULL "
                                     "ORDER BY name", [stage_run_id])
        reasons = ctx.manifest.query(
            "SELECT reason, count(*) AS n FROM quarantine q JOIN stage_runs r USING (stage_run_id) "
            "WHERE r.stage_run_id = ? OR r.parent_stage_run_id = ? GROUP BY reason ORDER BY n DESC",
            [stage_run_id, stage_run_id])
        meta = {}
        for a in artifacts.values():
            meta.update({k: v for k, v in json.loads(a.get("meta_json") or "{}").items()
                         if isinstance(v, (int, float, str)) and len(str(v)) < 80})
        md = [f"## {stage}: {'served from cache' if cached else 'ran'}", "",
              f"run `{ctx.run_id}` · stage run `{stage_run_id}` · manifest `{ctx.root.manifest_path}`", "",
              "| artifact | id | kind | rows | tokens | bytes | lineage | uri |", "|---|---|---|---|---|---|---|---|",
              *rows, ""]
        if meta:
            md += ["| field | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in sorted(meta.items())], ""]
        if metrics:
            md += ["| metric | value |", "|---|---|", *[f"| {m['name']} | {m['value']:.4g} |" for m in metrics], ""]
        if reasons:
            md += ["quarantined: " + ", ".join(f"{r['reason']} ×{r['n']}" for r in reasons)]
        key = "s1-" + "".join(c if c.isalnum() else "-" for c in stage.lower())
        create_markdown_artifact(key=key, markdown="\n".join(md), description=f"s1 stage {stage}")
        q = ctx.manifest.query(
            "SELECT q.source_uri, q.reason, q.detail FROM quarantine q JOIN stage_runs r USING (stage_run_id) "
            "WHERE r.stage_run_id = ? OR r.parent_stage_run_id = ? LIMIT 500", [stage_run_id, stage_run_id])
        if q:
            create_table_artifact(key=key + "-quarantine", table=q, description=f"quarantined inputs of {stage}")
    except Exception as e:  # never fail a stage for its UI summary
        ctx.log.warning("could not publish Prefect artifacts for %s: %s", stage, e)


class StageProgress:
    """A Prefect progress artifact for a long stage (no-op outside a flow run)."""

    def __init__(self, description: str, total: int):
        self.total, self.done, self.id = max(total, 1), 0, None
        if _in_flow_run():
            try:
                from prefect.artifacts import create_progress_artifact

                self.id = create_progress_artifact(progress=0.0, description=description)
            except Exception:
                self.id = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.id is not None:
            try:
                from prefect.artifacts import update_progress_artifact

                update_progress_artifact(artifact_id=self.id, progress=100.0 * min(self.done, self.total) / self.total)
            except Exception:
                self.id = None


@contextmanager
def open_run(flow: str, params: BaseModel) -> Iterator[RunContext]:
    """Start (or restart, for reruns and Prefect retries) a run row and finish it with the outcome."""
    root, manifest = open_storage(getattr(params, "home", None), artifacts=getattr(params, "artifacts", None))
    prefect_id = None
    try:
        from prefect.runtime import flow_run

        prefect_id = str(flow_run.id) if flow_run.id else None
    except Exception:
        pass
    run_id = manifest.start_run(flow, params.model_dump(mode="json", exclude={"rerun_of"}),
                                prefect_flow_run_id=prefect_id, run_id=getattr(params, "rerun_of", None))
    ctx = RunContext(root, manifest, run_id, flow)
    ctx.log.info("run %s (flow %s) on %s, artifacts at %s", run_id, flow, root.home, root.artifacts_url)
    os.environ["S1_RUN_ID"] = run_id
    os.environ["S1_HOME"] = str(root.home)  # storage.io.local_copy caches downloads from a store under it
    try:
        yield ctx
    except BaseException as e:
        manifest.finish_run(run_id, "failed", f"{type(e).__name__}: {e}")
        raise
    manifest.finish_run(run_id, "completed")


def single_stage(ctx: RunContext, stage: str, code_version: str, params, parents: list[dict],
                 outputs: dict[str, str], build, on_store: bool = False) -> tuple[dict[str, dict], bool]:
    """A stage that turns parent artifacts into `outputs` ({name: kind}) in one step.

    `build(dirs)` gets one empty staging folder per output, fills them, and returns {name: fields} where fields may
    hold rows, tokens, meta, quarantine, metrics and `extra_parents` (names of outputs of this stage it derives
    from). Returns ({name: artifact row}, cached).

    The folders are local paths (`$S1_HOME/tmp/...`, uploaded on commit when artifacts are on an object store),
    for builders that write through libraries. With `on_store=True` they are where the artifacts will live
    (`StorageRoot.staging(name, fingerprint)`: a local tmp folder, or a unique prefix on the store, a `Loc`), for
    builders whose Dask workers write part files themselves (`str(dirs[name])` is a path or an s3:// URL).
    """
    from storage import fingerprint

    fp = fingerprint(stage, code_version, params, [p["content_sha256"] or p["fingerprint"] for p in parents])
    with ctx.stage(stage, fp, list(outputs)) as st:
        if st.cached:
            return st.artifacts, True
        dirs = {name: ctx.root.staging(name, fp) if on_store else ctx.root.local_staging() for name in outputs}
        info = build(dirs)
        ids: dict[str, int] = {}
        for name, kind in outputs.items():
            fields = dict(info.get(name) or {})
            extra = [ids[n] for n in fields.pop("extra_parents", [])]
            ids[name] = st.commit(dirs[name], name, kind, [p["artifact_id"] for p in parents] + extra, **fields)
        return st.artifacts, False
