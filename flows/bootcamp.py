"""Bootcamp export: verifiable task configs -> sft_data (reference traces) + rl_prompts (+ bootcamp_exclusions)."""

from __future__ import annotations

import json
import time

from prefect import flow
from pydantic import BaseModel, Field

from flows.context import RunContext, RunParams, open_run, single_stage

BOOTCAMP_CODE_VERSION = "bootcamp-1"


class BootcampExportConfig(BaseModel):
    tasks: list[str] | None = Field(None, description="Task names to export (default: every registered task).")
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

    configs = list_configs(cfg.tasks)
    if cfg.max_configs and len(configs) > cfg.max_configs:
        step = len(configs) / cfg.max_configs
        configs = [configs[int(i * step)] for i in range(cfg.max_configs)]
    return configs


def bootcamp_stage(ctx: RunContext, cfg: BootcampExportConfig) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import pyarrow.compute as pc

    from s1data.bootcamp import export, split_by_length

    t0 = time.perf_counter()

    def build(dirs):
        sft, rl, excl = export(select_configs(cfg), cfg.n_per_config, cfg.seed, cfg.style)
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
        pq.write_table(evals, dirs["bootcamp_eval"] / "prompts.parquet")
        pq.write_table(sft, dirs["sft_data"] / "sft.parquet")
        pq.write_table(rl, dirs["rl_prompts"] / "prompts.parquet")
        pq.write_table(excl, dirs["bootcamp_exclusions"] / "exclusions.parquet")
        tasks = sorted(set(rl.column("task").to_pylist()))
        meta = {"tasks": len(tasks), "configs": len(set(rl.column("config_id").to_pylist())), "style": cfg.style}
        return {"sft_data": {"rows": sft.num_rows, "meta": meta}, "rl_prompts": {"rows": rl.num_rows, "meta": meta},
                "bootcamp_exclusions": {"rows": excl.num_rows}, "bootcamp_eval": {"rows": evals.num_rows}}

    arts, cached = single_stage(ctx, "bootcamp", BOOTCAMP_CODE_VERSION, cfg, [],
                                {"sft_data": "parquet", "rl_prompts": "parquet", "bootcamp_exclusions": "parquet",
                                 "bootcamp_eval": "parquet"},
                                build)
    meta = json.loads(arts["rl_prompts"]["meta_json"])
    return {**meta, "sft_rows": arts["sft_data"]["rows"], "rl_prompts": arts["rl_prompts"]["rows"],
            "excluded": arts["bootcamp_exclusions"]["rows"], "eval_prompts": arts["bootcamp_eval"]["rows"],
            "cached": cached, "seconds": time.perf_counter() - t0,
            "artifacts": {n: f"{a['name']}:{a['version']}" for n, a in arts.items()}}


class BootcampFlowParams(RunParams):
    bootcamp: BootcampExportConfig = Field(default_factory=BootcampExportConfig, description="What to export.")


@flow(name="bootcamp", log_prints=True)
def bootcamp_flow(params: BootcampFlowParams) -> dict:
    """Export verifiable task prompts and reference chain-of-thought traces."""
    with open_run("bootcamp", params) as ctx:
        return {"run_id": ctx.run_id, **bootcamp_stage(ctx, params.bootcamp)}
