"""Read-only SQL the dashboard runs through :meth:`storage.Manifest.query` (named constants, `?` parameters).

Each function takes a read-only :class:`storage.Manifest` and returns plain rows (lists of dicts); parsing of
`meta_json` and shaping for figures live in :mod:`dashboards.figures`.
"""

from __future__ import annotations

from storage import Manifest

# A run's final state per stage (and per partition): a rerun or a Prefect Retry starts a stage again in the same
# run, and the attempt its dead process left behind ('failed', "abandoned: ...") is history, not the outcome.
SQL_RUN_FINAL_STAGES = """
WITH last AS (
  SELECT run_id, stage, status, parent_stage_run_id FROM stage_runs
  QUALIFY row_number() OVER (PARTITION BY run_id, stage, coalesce(partition_key, '')
                             ORDER BY started_at DESC NULLS LAST, stage_run_id DESC) = 1)
SELECT run_id,
       count(*) FILTER (WHERE parent_stage_run_id IS NULL) AS stages,
       count(*) FILTER (WHERE parent_stage_run_id IS NOT NULL) AS partitions,
       count(*) FILTER (WHERE parent_stage_run_id IS NULL AND status = 'completed') AS completed,
       count(*) FILTER (WHERE parent_stage_run_id IS NULL AND status = 'cached') AS cached,
       count(*) FILTER (WHERE parent_stage_run_id IS NULL AND status = 'failed') AS failed,
       count(*) FILTER (WHERE parent_stage_run_id IS NULL AND status = 'running') AS running,
       count(*) FILTER (WHERE parent_stage_run_id IS NOT NULL AND status = 'failed') AS failed_partitions
FROM last GROUP BY run_id"""
SQL_RUN_STAGE_COUNTS = SQL_RUN_FINAL_STAGES

# artifacts recorded once per committed partition of a stage (grouped in lineage views)
PARTITION_ARTIFACTS = ("pdf_partition", "web_partition", "token_shards_partition", "curate_sample", "curate_filter",
                       "curate_sign", "curate_label")


def is_partition_artifact(name: str) -> bool:
    """An artifact that is one partition of a stage's output (`web_partition`, `curate_filter`, ...)."""
    return name in PARTITION_ARTIFACTS or name.endswith("_partition")

SQL_RUN_ARTIFACTS = """
SELECT a.artifact_id, a.name, a.version, a.stage, a.kind, a.rows, a.bytes, a.tokens, a.created_at
FROM artifacts a JOIN stage_runs s ON a.stage_run_id = s.stage_run_id
WHERE s.run_id = ? ORDER BY a.artifact_id"""

SQL_RUN_SCALAR_METRICS = """
SELECT s.stage, m.name, m.value, m.recorded_at
FROM metrics m JOIN stage_runs s ON m.stage_run_id = s.stage_run_id
WHERE s.run_id = ? AND m.step IS NULL ORDER BY m.name, m.recorded_at"""

SQL_RUN_QUARANTINE = """
SELECT q.source_uri, q.reason, q.detail, q.recorded_at
FROM quarantine q JOIN stage_runs s ON q.stage_run_id = s.stage_run_id
WHERE s.run_id = ? ORDER BY q.reason, q.source_uri"""

SQL_QUARANTINE_BY_REASON = "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY n DESC, reason"

SQL_LATEST_WITH_META = """
SELECT artifact_id, name, version, stage, kind, rows, bytes, tokens, meta_json, created_at
FROM artifacts WHERE kind <> 'source' AND meta_json IS NOT NULL AND meta_json <> '{}'
QUALIFY row_number() OVER (PARTITION BY name ORDER BY version DESC) = 1
ORDER BY artifact_id"""

SQL_SOURCES_BY_NAME = """
SELECT name, count(*) AS files, sum(bytes) AS bytes FROM artifacts WHERE kind = 'source' GROUP BY name ORDER BY name"""

SQL_INVENTORY = """
SELECT name, count(*) AS versions, max(version) AS latest_version, arg_max(artifact_id, version) AS artifact_id,
       arg_max(kind, version) AS kind, arg_max(rows, version) AS rows, arg_max(bytes, version) AS bytes,
       arg_max(tokens, version) AS tokens, max(created_at) AS created_at
FROM artifacts WHERE kind <> 'source' GROUP BY name ORDER BY name"""

SQL_ARTIFACTS_BY_NAME = """
SELECT artifact_id, name, version, stage, kind, uri, rows, bytes, tokens, meta_json, created_at, stage_run_id
FROM artifacts WHERE name = ? ORDER BY version DESC"""

SQL_RECENT_ARTIFACTS = """
SELECT artifact_id, name, version, kind, rows, created_at FROM artifacts
ORDER BY (kind = 'source'), artifact_id DESC LIMIT ?"""

SQL_SERIES_BY_PREFIX = """
SELECT m.stage_run_id, s.run_id, m.name, m.step, m.value
FROM metrics m LEFT JOIN stage_runs s ON m.stage_run_id = s.stage_run_id
WHERE starts_with(m.name, ?) AND m.step IS NOT NULL
ORDER BY m.stage_run_id NULLS FIRST, m.name, m.step"""

SQL_TRAIN_SERIES = """
SELECT m.stage_run_id, s.run_id, m.name, m.step, m.value
FROM metrics m LEFT JOIN stage_runs s ON m.stage_run_id = s.stage_run_id
WHERE starts_with(m.name, 'train.') AND NOT starts_with(m.name, 'train.expert_load.') AND m.step IS NOT NULL
ORDER BY m.stage_run_id NULLS FIRST, m.name, m.step"""

SQL_EXPERT_LOAD_LATEST = """
WITH e AS (SELECT stage_run_id, name, step, value, recorded_at FROM metrics
           WHERE starts_with(name, 'train.expert_load.') AND step IS NOT NULL),
     last_run AS (SELECT stage_run_id FROM e ORDER BY recorded_at DESC, step DESC LIMIT 1),
     last_step AS (SELECT max(step) AS step FROM e
                   WHERE stage_run_id IS NOT DISTINCT FROM (SELECT stage_run_id FROM last_run))
SELECT e.stage_run_id, e.name, e.step, e.value FROM e
WHERE e.stage_run_id IS NOT DISTINCT FROM (SELECT stage_run_id FROM last_run)
  AND e.step = (SELECT step FROM last_step)
ORDER BY e.name"""

SQL_EDGES_AMONG = "SELECT child_id, parent_id FROM lineage_edges WHERE list_contains(?, child_id)"

SQL_CHILDREN = """
SELECT a.artifact_id, a.name, a.version, a.kind FROM lineage_edges e JOIN artifacts a ON a.artifact_id = e.child_id
WHERE e.parent_id = ? ORDER BY a.name, a.version"""


# The artifacts a run stands for: those its stages committed or found in cache (same stage and fingerprint), and
# every ancestor of them (the manifest's `lineage` view). Every figure of a per-run page reads only these.
SQL_RUN_SCOPE = """
WITH own AS (
  SELECT DISTINCT a.artifact_id FROM artifacts a JOIN stage_runs s
    ON a.stage_run_id = s.stage_run_id OR (a.stage = s.stage AND a.fingerprint = s.fingerprint)
  WHERE s.run_id = ?)
SELECT artifact_id FROM own
UNION SELECT l.ancestor_id AS artifact_id FROM lineage l JOIN own o ON l.artifact_id = o.artifact_id"""

# the stage runs behind a run's scope (its own, and those that committed the artifacts it reused): their metrics
# and quarantine rows belong to the run's figures
SQL_SCOPE_STAGE_RUNS = """
SELECT stage_run_id FROM stage_runs WHERE run_id = ?
UNION SELECT stage_run_id FROM artifacts WHERE list_contains(?, artifact_id) AND stage_run_id IS NOT NULL
UNION SELECT s.parent_stage_run_id FROM stage_runs s JOIN artifacts a ON a.stage_run_id = s.stage_run_id
  WHERE list_contains(?, a.artifact_id) AND s.parent_stage_run_id IS NOT NULL"""

SQL_LATEST_WITH_META_IN = """
SELECT artifact_id, name, version, stage, kind, rows, bytes, tokens, meta_json, created_at
FROM artifacts WHERE kind <> 'source' AND meta_json IS NOT NULL AND meta_json <> '{}' AND list_contains(?, artifact_id)
QUALIFY row_number() OVER (PARTITION BY name ORDER BY version DESC) = 1
ORDER BY artifact_id"""

SQL_SOURCES_BY_NAME_IN = """
SELECT name, count(*) AS files, sum(bytes) AS bytes FROM artifacts
WHERE kind = 'source' AND list_contains(?, artifact_id) GROUP BY name ORDER BY name"""

SQL_QUARANTINE_BY_REASON_IN = """
SELECT reason, count(*) AS n FROM quarantine WHERE list_contains(?, stage_run_id)
GROUP BY reason ORDER BY n DESC, reason"""

SQL_LATEST_COMPLETED_RUN = """
SELECT run_id FROM runs WHERE status = 'completed' ORDER BY started_at DESC LIMIT 1"""


class RunScope:
    """A run and what it stands for: `artifact_ids` (committed or reused by its stages, and their ancestors) and
    `stage_run_ids` (the stage runs that produced them). `run` None: the whole manifest (no filter)."""

    def __init__(self, m: Manifest, run: dict | None):
        self.run = run
        if run is None:
            self.artifact_ids, self.stage_run_ids = None, None
            return
        self.artifact_ids = sorted(r["artifact_id"] for r in m.query(SQL_RUN_SCOPE, [run["run_id"]]))
        self.stage_run_ids = {r["stage_run_id"] for r in m.query(
            SQL_SCOPE_STAGE_RUNS, [run["run_id"], self.artifact_ids, self.artifact_ids])}

    def rows(self, rows: list[dict]) -> list[dict]:
        """Rows (metrics) whose stage_run_id is in the scope."""
        return rows if self.stage_run_ids is None else [r for r in rows if r.get("stage_run_id") in
                                                         self.stage_run_ids]


def latest_completed_run(m: Manifest) -> dict | None:
    rows = m.query(SQL_LATEST_COMPLETED_RUN)
    return m.get_run(rows[0]["run_id"]) if rows else None


def run_scope(m: Manifest, run_id: str | None) -> RunScope:
    """The scope of `run_id`; None: the latest completed run; "all": the whole manifest."""
    if run_id == "all":
        return RunScope(m, None)
    run = m.get_run(run_id) if run_id else latest_completed_run(m)
    return RunScope(m, run)


def latest_with_meta_in(m: Manifest, scope: RunScope) -> list[dict]:
    if scope.artifact_ids is None:
        return latest_with_meta(m)
    return m.query(SQL_LATEST_WITH_META_IN, [scope.artifact_ids])


def sources_by_name_in(m: Manifest, scope: RunScope) -> list[dict]:
    if scope.artifact_ids is None:
        return sources_by_name(m)
    return m.query(SQL_SOURCES_BY_NAME_IN, [scope.artifact_ids])


def quarantine_by_reason_in(m: Manifest, scope: RunScope) -> list[dict]:
    if scope.stage_run_ids is None:
        return quarantine_by_reason(m)
    return m.query(SQL_QUARANTINE_BY_REASON_IN, [sorted(scope.stage_run_ids)])


def run_stage_counts(m: Manifest) -> dict[str, dict]:
    """{run_id: counts of its stages' final states} (completed / cached / failed / running, partitions)."""
    return {r["run_id"]: r for r in m.query(SQL_RUN_STAGE_COUNTS)}


def run_artifacts(m: Manifest, run_id: str) -> list[dict]:
    return m.query(SQL_RUN_ARTIFACTS, [run_id])


def run_scalar_metrics(m: Manifest, run_id: str) -> list[dict]:
    return m.query(SQL_RUN_SCALAR_METRICS, [run_id])


def run_quarantine(m: Manifest, run_id: str) -> list[dict]:
    return m.query(SQL_RUN_QUARANTINE, [run_id])


def quarantine_by_reason(m: Manifest) -> list[dict]:
    return m.query(SQL_QUARANTINE_BY_REASON)


def latest_with_meta(m: Manifest) -> list[dict]:
    return m.query(SQL_LATEST_WITH_META)


def sources_by_name(m: Manifest) -> list[dict]:
    return m.query(SQL_SOURCES_BY_NAME)


def inventory(m: Manifest) -> list[dict]:
    return m.query(SQL_INVENTORY)


def artifacts_by_name(m: Manifest, name: str) -> list[dict]:
    return m.query(SQL_ARTIFACTS_BY_NAME, [name])


def recent_artifacts(m: Manifest, limit: int = 200) -> list[dict]:
    return m.query(SQL_RECENT_ARTIFACTS, [limit])


def series(m: Manifest, prefix: str) -> list[dict]:
    """Per-step metrics whose name starts with `prefix` (e.g. 'train.', 'rl.reward.')."""
    return m.query(SQL_SERIES_BY_PREFIX, [prefix])


def train_series(m: Manifest) -> list[dict]:
    """Per-step `train.*` metrics except the per-expert load (see expert_load_latest)."""
    return m.query(SQL_TRAIN_SERIES)


def expert_load_latest(m: Manifest) -> list[dict]:
    return m.query(SQL_EXPERT_LOAD_LATEST)


def edges_among(m: Manifest, child_ids: list[int]) -> list[dict]:
    return m.query(SQL_EDGES_AMONG, [child_ids]) if child_ids else []


def children(m: Manifest, artifact_id: int) -> list[dict]:
    return m.query(SQL_CHILDREN, [artifact_id])
