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
from typing import Iterator

from pydantic import BaseModel, Field

from storage import Manifest, StorageRoot, open_storage


class RunParams(BaseModel):
    """Parameters every flow takes."""

    home: str | None = Field(None, description="Storage root ($S1_HOME, default ./s1-home).")
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
        if all(name in found for name in outputs):
            sr = self.manifest.start_stage(self.run_id, stage, fingerprint, status="cached")
            self.log.info("stage %s cached (fingerprint %s)", stage, fingerprint[:12])
            yield StageHandle(self, stage, fingerprint, sr, cached=True, artifacts=found)
            return
        sr = self.manifest.start_stage(self.run_id, stage, fingerprint)
        handle = StageHandle(self, stage, fingerprint, sr, cached=False, artifacts={})
        try:
            yield handle
        except BaseException as e:
            self.manifest.finish_stage(sr, "failed", f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2000:]}")
            raise
        self.manifest.finish_stage(sr, "completed")


@dataclass
class StageHandle:
    ctx: RunContext
    stage: str
    fingerprint: str
    stage_run_id: str
    cached: bool
    artifacts: dict[str, dict]

    def commit(self, staging: Path, name: str, kind: str, parents: list[int], fingerprint: str | None = None,
               **fields) -> int:
        """Rename a filled staging folder to artifacts/<name>/<fingerprint>/, then record it and its lineage.

        `fingerprint` defaults to the stage's; a stage that finished only part of its inputs passes the fingerprint
        of what it did contain, so the next run is not served that partial artifact from cache.
        """
        from storage import dir_bytes, tree_sha256

        fp = fingerprint or self.fingerprint
        final = self.ctx.root.commit(staging, name, fp)
        artifact_id = self.ctx.manifest.record_artifact(
            name=name, stage=self.stage, fingerprint=fp, kind=kind, uri=str(final), stage_run_id=self.stage_run_id,
            parents=parents, bytes=dir_bytes(final), content_sha256=tree_sha256(final), **fields)
        self.artifacts[name] = self.ctx.manifest.resolve_artifact(artifact_id)
        return artifact_id


@contextmanager
def open_run(flow: str, params: BaseModel) -> Iterator[RunContext]:
    """Start (or restart, for reruns and Prefect retries) a run row and finish it with the outcome."""
    root, manifest = open_storage(getattr(params, "home", None))
    prefect_id = None
    try:
        from prefect.runtime import flow_run

        prefect_id = str(flow_run.id) if flow_run.id else None
    except Exception:
        pass
    run_id = manifest.start_run(flow, params.model_dump(mode="json", exclude={"rerun_of"}),
                                prefect_flow_run_id=prefect_id, run_id=getattr(params, "rerun_of", None))
    ctx = RunContext(root, manifest, run_id, flow)
    ctx.log.info("run %s (flow %s) on %s", run_id, flow, root.home)
    os.environ["S1_RUN_ID"] = run_id
    try:
        yield ctx
    except BaseException as e:
        manifest.finish_run(run_id, "failed", f"{type(e).__name__}: {e}")
        raise
    manifest.finish_run(run_id, "completed")


def single_stage(ctx: RunContext, stage: str, code_version: str, params, parents: list[dict],
                 outputs: dict[str, str], build) -> tuple[dict[str, dict], bool]:
    """A stage that turns parent artifacts into `outputs` ({name: kind}) in one step.

    `build(dirs)` gets one empty staging folder per output, fills them, and returns {name: fields} where fields may
    hold rows, tokens, meta, quarantine, metrics and `extra_parents` (names of outputs of this stage it derives
    from). Returns ({name: artifact row}, cached).
    """
    from storage import fingerprint

    fp = fingerprint(stage, code_version, params, [p["content_sha256"] or p["fingerprint"] for p in parents])
    with ctx.stage(stage, fp, list(outputs)) as st:
        if st.cached:
            return st.artifacts, True
        dirs = {name: ctx.root.staging() for name in outputs}
        info = build(dirs)
        ids: dict[str, int] = {}
        for name, kind in outputs.items():
            fields = dict(info.get(name) or {})
            extra = [ids[n] for n in fields.pop("extra_parents", [])]
            ids[name] = st.commit(dirs[name], name, kind, [p["artifact_id"] for p in parents] + extra, **fields)
        return st.artifacts, False
