"""The DuckDB manifest: the only module in s1 that imports duckdb or writes SQL against the manifest.

Connections are short-lived: every call opens, runs one transaction and closes, so a user's `duckdb -readonly`
shell, the dashboard and the CLI can read between writes. Only the flow process writes; workers return records.
A lock held by another process is retried briefly, then reported as :class:`ManifestError` with the fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, flow TEXT NOT NULL, params_json TEXT, status TEXT NOT NULL,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, prefect_flow_run_id TEXT,
    attempt INTEGER DEFAULT 1, pid INTEGER, host TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS stage_runs (
    stage_run_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, stage TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cached')),
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, error TEXT,
    parent_stage_run_id TEXT, partition_key TEXT);
CREATE SEQUENCE IF NOT EXISTS artifact_id_seq START 1;
CREATE TABLE IF NOT EXISTS artifacts (
    artifact_id BIGINT PRIMARY KEY DEFAULT nextval('artifact_id_seq'), name TEXT NOT NULL, version INTEGER NOT NULL,
    stage TEXT NOT NULL, fingerprint TEXT NOT NULL, kind TEXT NOT NULL, uri TEXT NOT NULL,
    rows BIGINT, bytes BIGINT, tokens BIGINT, content_sha256 TEXT, stage_run_id TEXT,
    created_at TIMESTAMPTZ, meta_json TEXT, UNIQUE (name, version));
CREATE TABLE IF NOT EXISTS lineage_edges (
    child_id BIGINT NOT NULL, parent_id BIGINT NOT NULL, PRIMARY KEY (child_id, parent_id));
CREATE TABLE IF NOT EXISTS metrics (
    stage_run_id TEXT, artifact_id BIGINT, name TEXT NOT NULL, step BIGINT, value DOUBLE,
    recorded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS quarantine (
    stage_run_id TEXT, source_uri TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT, recorded_at TIMESTAMPTZ);
CREATE OR REPLACE VIEW lineage AS
    WITH RECURSIVE walk(artifact_id, ancestor_id, depth) AS (
        SELECT child_id, parent_id, 1 FROM lineage_edges
        UNION ALL
        SELECT walk.artifact_id, e.parent_id, walk.depth + 1
        FROM walk JOIN lineage_edges e ON e.child_id = walk.ancestor_id)
    SELECT artifact_id, ancestor_id, min(depth) AS depth FROM walk GROUP BY artifact_id, ancestor_id;
ALTER TABLE artifacts ADD COLUMN IF NOT EXISTS files_json TEXT;
"""

SQL_INSERT_RUN = """INSERT INTO runs (run_id, flow, params_json, status, started_at, prefect_flow_run_id, attempt, pid, host)
    VALUES (?, ?, ?, 'running', ?, ?, 1, ?, ?)"""
SQL_RESTART_RUN = """UPDATE runs SET status = 'running', attempt = attempt + 1, finished_at = NULL, error = NULL,
    pid = ?, host = ?, prefect_flow_run_id = coalesce(?, prefect_flow_run_id) WHERE run_id = ?"""
SQL_FINISH_RUN = "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?"
SQL_GET_RUN = "SELECT * FROM runs WHERE run_id = ?"
SQL_RUN_BY_PREFECT = "SELECT run_id FROM runs WHERE prefect_flow_run_id = ?"
SQL_LIST_RUNS = "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?"
SQL_INSERT_STAGE = """INSERT INTO stage_runs (stage_run_id, run_id, stage, fingerprint, status, started_at,
    finished_at, parent_stage_run_id, partition_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
SQL_ABANDON_STAGES = """UPDATE stage_runs SET status = 'failed', finished_at = ?,
    error = 'abandoned: the process running it died (killed or crashed) before it finished'
    WHERE run_id = ? AND status = 'running'"""
SQL_FINISH_STAGE = "UPDATE stage_runs SET status = ?, finished_at = ?, error = ? WHERE stage_run_id = ?"
SQL_FIND_ARTIFACT = """SELECT * FROM artifacts WHERE name = ? AND fingerprint = ? ORDER BY version DESC LIMIT 1"""
SQL_FIND_BY_FP = """SELECT a.* FROM artifacts a WHERE a.stage = ? AND a.fingerprint = ? ORDER BY artifact_id"""
SQL_NEXT_VERSION = "SELECT coalesce(max(version), 0) + 1 FROM artifacts WHERE name = ?"
SQL_INSERT_ARTIFACT = """INSERT INTO artifacts (name, version, stage, fingerprint, kind, uri, rows, bytes, tokens,
    content_sha256, stage_run_id, created_at, meta_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    RETURNING artifact_id"""
SQL_INSERT_EDGE = "INSERT OR IGNORE INTO lineage_edges (child_id, parent_id) VALUES (?, ?)"
SQL_INSERT_METRIC = """INSERT INTO metrics (stage_run_id, artifact_id, name, step, value, recorded_at)
    VALUES (?, ?, ?, ?, ?, ?)"""
SQL_INSERT_QUARANTINE = """INSERT INTO quarantine (stage_run_id, source_uri, reason, detail, recorded_at)
    VALUES (?, ?, ?, ?, ?)"""
SQL_RELOCATE_ARTIFACT = """UPDATE artifacts SET uri = ?, bytes = ?, content_sha256 = ?, files_json = ?
    WHERE artifact_id = ?"""
SQL_SET_FILES = "UPDATE artifacts SET files_json = ? WHERE artifact_id = ?"
SQL_ALL_URIS = "SELECT uri FROM artifacts WHERE kind <> 'source'"
SQL_ARTIFACT_BY_ID = "SELECT * FROM artifacts WHERE artifact_id = ?"
SQL_LATEST_BY_NAME = "SELECT * FROM artifacts WHERE name = ? ORDER BY version DESC LIMIT 1"
SQL_BY_NAME_VERSION = "SELECT * FROM artifacts WHERE name = ? AND version = ?"
SQL_ANCESTORS = """SELECT l.depth, a.* FROM lineage l JOIN artifacts a ON a.artifact_id = l.ancestor_id
    WHERE l.artifact_id = ? ORDER BY l.depth, a.name, a.artifact_id"""
SQL_STAGE_RUNS = "SELECT * FROM stage_runs WHERE run_id = ? ORDER BY started_at"


# `s1 sql`: DuckDB's own sandbox (docs: operations_manual/securing_duckdb): no file system, network or extension
# access beyond the database file itself, and no SET that could undo it
SANDBOX_CONFIG = {"enable_external_access": False, "lock_configuration": True, "autoinstall_known_extensions": False,
                  "autoload_known_extensions": False, "allow_community_extensions": False}
SQL_USER_RELATIONS = """SELECT table_name FROM duckdb_tables() WHERE NOT internal
    UNION SELECT view_name FROM duckdb_views() WHERE NOT internal"""


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


class ManifestError(RuntimeError):
    """A manifest problem, worded for the user, with the fix where there is one."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


class Manifest:
    """Short-lived connections to $S1_HOME/manifest.duckdb."""

    def __init__(self, path: str | os.PathLike, read_only: bool = False, lock_timeout_s: float | None = None):
        self.path = Path(path)
        self.read_only = read_only
        # a writer waits this long for another process's lock (a reader's shell or dashboard, another flow's write)
        self.lock_timeout_s = float(os.environ.get("S1_MANIFEST_LOCK_TIMEOUT_S", 30.0 if read_only else 120.0)
                                    if lock_timeout_s is None else lock_timeout_s)
        if not read_only:
            with self._connect() as con:
                con.execute(SCHEMA)

    # -- connections ----------------------------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.read_only and not self.path.exists():
            raise ManifestError(f"no manifest at {self.path}: run a flow first (e.g. `s1 demo`) or pass --home")
        t0 = time.monotonic()
        deadline = t0 + self.lock_timeout_s
        delay, warned = 0.05, False
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=self.read_only)
                break
            except duckdb.Error as e:  # another process holds the write lock, or this one has it open otherwise
                busy = any(k in str(e).lower() for k in ("lock", "already attached", "different configuration"))
                if not busy:
                    raise ManifestError(f"cannot open manifest {self.path}: {e}") from e
                holder = lock_holder(str(e))
                if not warned and time.monotonic() - t0 > 2.0:
                    warned = True
                    log.warning("manifest %s is locked by %s; waiting up to %.0f s", self.path, holder,
                                self.lock_timeout_s)
                if time.monotonic() > deadline:
                    raise ManifestError(
                        f"manifest {self.path} stayed locked for {self.lock_timeout_s:.0f} s by {holder}: "
                        + ("close that session (a duckdb shell, notebook or dashboard holding the file open), or "
                           "raise S1_MANIFEST_LOCK_TIMEOUT_S" if not self.read_only else
                           "a flow is writing; retry in a moment")) from e
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.read_only:
            raise ManifestError("this manifest handle is read-only")
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        with self._connect() as con:
            try:
                cur = con.execute(sql, list(params))
            except duckdb.Error as e:
                raise ManifestError(f"query failed: {e}") from e
            if cur.description is None:
                return []
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def select(self, sql: str) -> list[dict]:
        """A user's query (`s1 sql`): one SELECT / WITH statement over the manifest's tables and views, run on a
        read-only connection with DuckDB's external access off (no file, network or extension access: COPY, ATTACH,
        read_csv('/etc/passwd') and replacement scans of paths all fail) and the configuration locked so the query
        cannot turn it back on. Anything else is a one-line ManifestError."""
        if not self.path.exists():
            raise ManifestError(f"no manifest at {self.path}: run a flow first (e.g. `s1 demo`) or pass --home")
        try:
            statements = duckdb.connect(":memory:").extract_statements(sql)
        except duckdb.Error as e:
            raise ManifestError(f"query failed: {_one_line(e)}") from e
        if len(statements) != 1:
            raise ManifestError(f"s1 sql runs exactly one statement (got {len(statements)})")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise ManifestError(f"s1 sql is read-only: it runs only SELECT / WITH queries over the manifest "
                                f"(got {kind.name})")
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=True, config=SANDBOX_CONFIG)
                break
            except duckdb.Error as e:
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise ManifestError(f"cannot open manifest {self.path}: {_one_line(e)}") from e
                time.sleep(0.2)
        try:
            known = {r[0] for r in con.execute(SQL_USER_RELATIONS).fetchall()}
            try:
                used = set(duckdb.get_table_names(sql))
            except duckdb.Error as e:
                raise ManifestError(f"query failed: {_one_line(e)}") from e
            foreign = sorted(t for t in used if t not in known)
            if foreign:
                raise ManifestError(f"s1 sql reads only the manifest's tables ({', '.join(sorted(known))}); "
                                    f"not {', '.join(foreign)}")
            try:
                cur = con.execute(sql)
            except duckdb.Error as e:
                raise ManifestError(f"query failed: {_one_line(e)}") from e
            if cur.description is None:
                return []
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]
        finally:
            con.close()

    def query_arrow(self, sql: str, params: Iterable[Any] = ()):
        with self._connect() as con:
            try:
                return con.execute(sql, list(params)).to_arrow_table()
            except duckdb.Error as e:
                raise ManifestError(f"query failed: {e}") from e

    # -- runs -----------------------------------------------------------------------------------------------------
    def start_run(self, flow: str, params: dict, prefect_flow_run_id: str | None = None,
                  run_id: str | None = None) -> str:
        """Record a new run, or restart an existing one (rerun / Prefect Retry) and return its id."""
        with self.transaction() as con:
            if run_id is None and prefect_flow_run_id:
                row = con.execute(SQL_RUN_BY_PREFECT, [prefect_flow_run_id]).fetchone()
                run_id = row[0] if row else None
            if run_id and con.execute(SQL_GET_RUN, [run_id]).fetchone():
                con.execute(SQL_RESTART_RUN, [os.getpid(), socket.gethostname(), prefect_flow_run_id, run_id])
                con.execute(SQL_ABANDON_STAGES, [now(), run_id])
                return run_id
            run_id = run_id or new_id("run")
            con.execute(SQL_INSERT_RUN, [run_id, flow, json.dumps(params, sort_keys=True, default=str), now(),
                                         prefect_flow_run_id, os.getpid(), socket.gethostname()])
            return run_id

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.transaction() as con:
            con.execute(SQL_FINISH_RUN, [status, now(), error, run_id])

    def get_run(self, run_id: str) -> dict | None:
        rows = self.query(SQL_GET_RUN, [run_id])
        return rows[0] if rows else None

    def list_runs(self, limit: int = 50) -> list[dict]:
        runs = self.query(SQL_LIST_RUNS, [limit])
        for r in runs:  # a 'running' row whose process is gone was killed
            if r["status"] == "running" and r["host"] == socket.gethostname() and not _pid_alive(r["pid"]):
                r["status"] = "killed"
        return runs

    def stage_runs(self, run_id: str) -> list[dict]:
        return self.query(SQL_STAGE_RUNS, [run_id])

    # -- stages ---------------------------------------------------------------------------------------------------
    def start_stage(self, run_id: str, stage: str, fingerprint: str, status: str = "running",
                    parent_stage_run_id: str | None = None, partition_key: str | None = None) -> str:
        stage_run_id = new_id("sr")
        finished = now() if status == "cached" else None
        with self.transaction() as con:
            con.execute(SQL_INSERT_STAGE, [stage_run_id, run_id, stage, fingerprint, status, now(), finished,
                                           parent_stage_run_id, partition_key])
        return stage_run_id

    def record_cached_stages(self, run_id: str, stage: str, parent_stage_run_id: str,
                             partitions: list[tuple[str, str]]) -> None:
        """One `cached` row per (partition_key, fingerprint), in one transaction."""
        with self.transaction() as con:
            for key, fp in partitions:
                con.execute(SQL_INSERT_STAGE, [new_id("sr"), run_id, stage, fp, "cached", now(), now(),
                                               parent_stage_run_id, key])

    def finish_stage(self, stage_run_id: str, status: str, error: str | None = None) -> None:
        with self.transaction() as con:
            con.execute(SQL_FINISH_STAGE, [status, now(), error, stage_run_id])

    # -- artifacts ------------------------------------------------------------------------------------------------
    def find_artifact(self, name: str, fingerprint: str) -> dict | None:
        rows = self.query(SQL_FIND_ARTIFACT, [name, fingerprint])
        return rows[0] if rows else None

    def artifacts_for(self, stage: str, fingerprint: str) -> list[dict]:
        return self.query(SQL_FIND_BY_FP, [stage, fingerprint])

    def record_artifact(self, *, name: str, stage: str, fingerprint: str, kind: str, uri: str,
                        stage_run_id: str | None, parents: Iterable[int] = (), rows: int | None = None,
                        bytes: int | None = None, tokens: int | None = None, content_sha256: str | None = None,
                        meta: dict | None = None, quarantine: Iterable[dict] = (),
                        metrics: Iterable[tuple[str, int | None, float]] = (), stage_row: dict | None = None,
                        files: dict[str, list] | None = None) -> int:
        """Record a committed artifact, its lineage edges, quarantine rows and metrics in one transaction.

        `stage_row` ({run_id, stage, parent_stage_run_id, partition_key, started_at}) inserts the `completed` stage
        row of `stage_run_id` in the same transaction, so a kill can never leave an artifact without its row.
        An artifact with the same name and fingerprint is not recorded twice: its id is returned.
        `files` ({relative path: [bytes, sha256 or None]}, taken at commit) is what a cache hit verifies.
        """
        with self.transaction() as con:
            if stage_row is not None:
                con.execute(SQL_INSERT_STAGE, [stage_run_id, stage_row["run_id"], stage_row["stage"], fingerprint,
                                               "completed", stage_row.get("started_at") or now(), now(),
                                               stage_row.get("parent_stage_run_id"), stage_row.get("partition_key")])
            row = con.execute("SELECT artifact_id FROM artifacts WHERE name = ? AND fingerprint = ?",
                              [name, fingerprint]).fetchone()
            if row:
                return int(row[0])
            version = con.execute(SQL_NEXT_VERSION, [name]).fetchone()[0]
            artifact_id = con.execute(SQL_INSERT_ARTIFACT, [
                name, version, stage, fingerprint, kind, uri, rows, bytes, tokens, content_sha256, stage_run_id,
                now(), json.dumps(meta or {}, sort_keys=True, default=str)]).fetchone()[0]
            if files is not None:
                con.execute(SQL_SET_FILES, [json.dumps(files, sort_keys=True), artifact_id])
            for parent in sorted(set(parents)):
                con.execute(SQL_INSERT_EDGE, [artifact_id, parent])
            for q in quarantine:
                con.execute(SQL_INSERT_QUARANTINE, [stage_run_id, q["source_uri"], q["reason"], q.get("detail"),
                                                    now()])
            for m_name, step, value in metrics:
                con.execute(SQL_INSERT_METRIC, [stage_run_id, artifact_id, m_name, step, float(value), now()])
            return int(artifact_id)

    def relocate_artifact(self, artifact_id: int, uri: str, bytes: int | None, content_sha256: str | None,
                          files: dict[str, list] | None = None) -> None:
        """Point an artifact whose files were lost or altered (deleted from the store, overwritten) at a fresh copy
        written by a rerun, with that copy's sizes and hashes."""
        with self.transaction() as con:
            con.execute(SQL_RELOCATE_ARTIFACT, [uri, bytes, content_sha256,
                                                None if files is None else json.dumps(files, sort_keys=True),
                                                artifact_id])

    def artifact_uris(self) -> set[str]:
        """The uri of every recorded artifact except source files: what `s1 gc` must keep."""
        return {r["uri"] for r in self.query(SQL_ALL_URIS)}

    def record_sources(self, name: str, sources: list[dict]) -> dict[str, int]:
        """Register source files ({path, sha256, bytes}) as artifacts (kind 'source', fingerprint = sha256) in one
        transaction; a file already known by its bytes keeps its first id. Returns {sha256: artifact_id}."""
        ids: dict[str, int] = {}
        with self.transaction() as con:
            for s in sources:
                row = con.execute("SELECT artifact_id FROM artifacts WHERE name = ? AND fingerprint = ?",
                                  [name, s["sha256"]]).fetchone()
                if row is None:
                    version = con.execute(SQL_NEXT_VERSION, [name]).fetchone()[0]
                    row = con.execute(SQL_INSERT_ARTIFACT, [
                        name, version, "source", s["sha256"], "source", s["path"], None, s.get("bytes"), None,
                        s["sha256"], None, now(), "{}"]).fetchone()
                ids[s["sha256"]] = int(row[0])
        return ids

    def record_metrics(self, stage_run_id: str | None, values: Iterable[tuple[str, int | None, float]],
                       artifact_id: int | None = None) -> None:
        with self.transaction() as con:
            for m_name, step, value in values:
                con.execute(SQL_INSERT_METRIC, [stage_run_id, artifact_id, m_name, step, float(value), now()])

    def record_quarantine(self, stage_run_id: str | None, rows: Iterable[dict]) -> None:
        with self.transaction() as con:
            for q in rows:
                con.execute(SQL_INSERT_QUARANTINE, [stage_run_id, q["source_uri"], q["reason"], q.get("detail"),
                                                    now()])

    def resolve_artifact(self, ref: str | int) -> dict:
        """`pdf_pages` (latest version), `pdf_pages:3` (a version) or a numeric artifact id."""
        ref = str(ref)
        if ref.isdigit():
            rows = self.query(SQL_ARTIFACT_BY_ID, [int(ref)])
        elif ":" in ref and ref.rsplit(":", 1)[1].isdigit():
            name, version = ref.rsplit(":", 1)
            rows = self.query(SQL_BY_NAME_VERSION, [name, int(version)])
        else:
            rows = self.query(SQL_LATEST_BY_NAME, [ref])
        if not rows:
            names = [r["name"] for r in self.query("SELECT DISTINCT name FROM artifacts ORDER BY name")]
            raise ManifestError(f"no artifact {ref!r} in the manifest; known names: {', '.join(names) or 'none'}")
        return rows[0]

    def ancestors(self, artifact_id: int) -> list[dict]:
        return self.query(SQL_ANCESTORS, [artifact_id])


def lock_holder(message: str) -> str:
    """Who holds the manifest's lock, from DuckDB's "Conflicting lock is held in EXE (PID N)" message: the pid and
    that process's command line (e.g. `pid 812: duckdb -readonly s1-home/manifest.duckdb`)."""
    m = re.search(r"\(PID (\d+)\)", message)
    if not m:
        return "another process"
    pid = int(m.group(1))
    try:
        import psutil

        cmd = " ".join(psutil.Process(pid).cmdline())[:160]
    except Exception:
        cmd = ""
    return f"pid {pid}" + (f" ({cmd})" if cmd else "")


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
