"""Bootcamp export: verifiable task configs -> sft_data (reference traces) + rl_prompts (+ bootcamp_exclusions)."""

from __future__ import annotations

import json
import time

from prefect import flow
from pydantic import BaseModel, Field

from flows.context import RunContext, RunParams, open_run, single_stage

BOOTCAMP_CODE_VERSION = "bootcamp-2"


class OpenEndedConfig(BaseModel):
    """Open-ended prompts (reference answers, model-judged) from curated science documents."""

    curated: str | None = Field(None, description="Curated artifact to draw from (e.g. 'curated'); None: no "
                                                  "open-ended prompts.")
    n_per_doc: int = Field(1, ge=1, description="Prompts of each kind (open/rm, open/judge) per document.")
    max_docs: int = Field(200, ge=1, description="Documents read from the curated artifact (in file order).")


class BootcampExportConfig(BaseModel):
    tasks: list[str] | None = Field(None, description="Task names to export (default: every registered task); a "
                                    "name may be an import path 'module:Class' of an InternBootCamp task or an "
                                    "s1.tasks entry point.")
    task_configs: dict[str, str | list[dict]] = Field(
        default_factory=dict, description="Task name -> its configs: a path to a JSON list of constructor kwargs "
                                          "(InternBootCamp's <Name>_train.json) or the list itself. A task named "
                                          "here is exported even if `tasks` leaves it out.")
    open_ended: OpenEndedConfig = Field(default_factory=OpenEndedConfig,
                                        description="Open-ended prompts from curated documents (reward-model and "
                                                    "LLM-judge routes).")
    length_buckets: list[str] | None = Field(None, description="Keep only these TAIL length buckets, e.g. ['S'].")
    n_per_config: int = Field(2, ge=1, description="Samples generated per task config.")
    style: str = Field("tail", description="Chain-of-thought style of the reference traces (tail, direct, ...).")
    seed: int = Field(0, description="Seed of case generation.")
    max_configs: int | None = Field(None, ge=1, description="Cap on configs (evenly spread over tasks).")
    train_buckets: list[str] | None = Field(
        None, description="Hold out by length: only these TAIL buckets (e.g. ['S']) go to sft_data / rl_prompts; "
                          "every other bucket and eval_fraction of the train buckets go to bootcamp_eval. Problems "
                          "are keyed by sample_id (a hash of the problem), so no eval prompt is in train.")
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of train-bucket problems held out.")


def select_configs(cfg: BootcampExportConfig):
    from s1data.bootcamp import list_configs

    configs = list_configs(cfg.tasks, cfg.task_configs or None)
    if cfg.max_configs and len(configs) > cfg.max_configs:
        step = len(configs) / cfg.max_configs
        configs = [configs[int(i * step)] for i in range(cfg.max_configs)]
    return configs


def fingerprint_params(cfg: BootcampExportConfig) -> dict:
    """What the export depends on beyond the config: the bytes of each task-config file and the source of each
    external task class (an edited plugin or JSON list must not be served from cache)."""
    import hashlib
    from pathlib import Path

    from s1data.bootcamp.plugins import code_fingerprint

    external = {}
    for name in sorted(set(cfg.tasks or []) | set(cfg.task_configs)):
        spec = cfg.task_configs.get(name)
        conf_sha = (hashlib.sha256(Path(spec).read_bytes()).hexdigest() if isinstance(spec, str)
                    else None)
        external[name] = {"code_sha256": code_fingerprint(name), "configs_sha256": conf_sha}
    return {"config": cfg.model_dump(), "external": external}


def bootcamp_stage(ctx: RunContext, cfg: BootcampExportConfig, curated: dict | None = None) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import pyarrow.compute as pc

    from s1data.bootcamp import export, split_by_length

    t0 = time.perf_counter()

    def build(dirs):
        sft, rl, excl = export(select_configs(cfg), cfg.n_per_config, cfg.seed, cfg.style)
        open_counts = {}
        if cfg.length_buckets:  # TAIL tasks carry S/M/L; science tasks have no bucket and are kept
            def keep(t):
                b = t.column("length_bucket")
                return t.filter(pc.or_kleene(pc.is_in(b, pa.array(cfg.length_buckets)),
                                             pc.or_kleene(pc.is_null(b), pc.equal(b, ""))))

            sft, rl = keep(sft), keep(rl)
        evals = rl.schema.empty_table()
        if cfg.train_buckets:  # science tasks have no bucket: they stay trainable
            rl, evals = split_by_length(rl, tuple(cfg.train_buckets) + ("", None), cfg.eval_fraction, cfg.seed)
            train_ids = pa.array(rl.column("sample_id").to_pylist())
            sft = sft.filter(pc.is_in(sft.column("sample_id"), train_ids))
        if curated is not None:  # model-judged prompts join the mixture (they have no length bucket: all train)
            open_rows, open_counts = _open_prompts(curated, cfg.open_ended, cfg.seed)
            rl = pa.concat_tables([rl.append_column("reference", pa.nulls(rl.num_rows, pa.string())), open_rows])
        pq.write_table(evals, dirs["bootcamp_eval"] / "prompts.parquet")
        pq.write_table(sft, dirs["sft_data"] / "sft.parquet")
        pq.write_table(rl, dirs["rl_prompts"] / "prompts.parquet")
        pq.write_table(excl, dirs["bootcamp_exclusions"] / "exclusions.parquet")
        tasks = sorted({t for t in rl.column("task").to_pylist() if t})
        sources = {}
        for ds in rl.column("data_source").to_pylist():
            route = ds.split("/", 2)[:2] if ds.startswith("open/") else ["bootcamp"]
            sources["/".join(route)] = sources.get("/".join(route), 0) + 1
        meta = {"tasks": len(tasks), "configs": len(set(rl.column("config_id").to_pylist())), "style": cfg.style,
                "data_sources": sources, "open_ended": open_counts}
        return {"sft_data": {"rows": sft.num_rows, "meta": meta}, "rl_prompts": {"rows": rl.num_rows, "meta": meta},
                "bootcamp_exclusions": {"rows": excl.num_rows}, "bootcamp_eval": {"rows": evals.num_rows}}

    arts, cached = single_stage(ctx, "bootcamp", BOOTCAMP_CODE_VERSION, fingerprint_params(cfg),
                                [curated] if curated is not None else [],
                                {"sft_data": "parquet", "rl_prompts": "parquet", "bootcamp_exclusions": "parquet",
                                 "bootcamp_eval": "parquet"},
                                build)
    meta = json.loads(arts["rl_prompts"]["meta_json"])
    return {**meta, "sft_rows": arts["sft_data"]["rows"], "rl_prompts": arts["rl_prompts"]["rows"],
            "excluded": arts["bootcamp_exclusions"]["rows"], "eval_prompts": arts["bootcamp_eval"]["rows"],
            "cached": cached, "seconds": time.perf_counter() - t0,
            "artifacts": {n: f"{a['name']}:{a['version']}" for n, a in arts.items()}}


def _open_prompts(curated: dict, oc: OpenEndedConfig, seed: int):
    """Open-ended prompts from the first ``max_docs`` curated documents, read one partition file at a time."""
    import pyarrow as pa

    from s1data.bootcamp.open_ended import OPEN_COLUMNS, open_prompts
    from storage import list_files, read_parquet

    tables, counts, seen = [], {}, 0
    for f in list_files(curated["uri"], ".parquet"):
        if seen >= oc.max_docs:
            break
        part = read_parquet(f, ["doc_id", "text", "domain"]).slice(0, oc.max_docs - seen)
        seen += part.num_rows
        t, c = open_prompts(part, oc.n_per_doc, seed)
        tables.append(t)
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    if not tables:
        return pa.schema([(c, pa.string()) for c in OPEN_COLUMNS]).empty_table(), counts
    return pa.concat_tables(tables), counts


class BootcampFlowParams(RunParams):
    bootcamp: BootcampExportConfig = Field(default_factory=BootcampExportConfig, description="What to export.")


@flow(name="bootcamp", log_prints=True)
def bootcamp_flow(params: BootcampFlowParams) -> dict:
    """Export verifiable task prompts and reference chain-of-thought traces."""
    with open_run("bootcamp", params) as ctx:
        oc = params.bootcamp.open_ended
        curated = ctx.manifest.resolve_artifact(oc.curated) if oc.curated else None
        return {"run_id": ctx.run_id, **bootcamp_stage(ctx, params.bootcamp, curated)}
