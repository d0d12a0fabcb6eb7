"""Post-training stages: cpt_checkpoint -> offline_rl (verified best-of-N SFT) -> online_rl + rl_checkpoint.

Offline: sample N responses per bootcamp prompt, keep the best verified one, drop prompts that are always or almost
never solved, fine-tune on the kept responses and the TAIL reference traces. Online: groups of G rollouts on Ray
actors, Mixture-of-Rewards on Ray CPU tasks, OREAL loss (GRPO optional) with KL-Cov; resumable from its work folder.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from prefect import flow
from pydantic import Field

from flows.context import RunContext, RunParams, open_run, overrides_of
from flows.pretrain import _copy_tree, hf_dir
from s1model.procs import OwnerLock
from s1model.rl.config import RECIPES as RL_RECIPES
from s1model.rl.config import OfflineRLConfig, OnlineRLConfig
from storage import fingerprint, local_copy, loc, read_parquet

RL_CODE_VERSION = "rl-2"  # rl-2: training on the DeepSpeed engine, trainer-side behaviour log-probs
RL_LOCK_TIMEOUT_S = 120.0  # a live RL stage of another run in the same work folder: wait this long, then fail
# per-step metrics that measure the machine, not the run: kept in the manifest's metrics, left out of the online_rl
# artifact so that its bytes (content_sha256) are the same for every run of one fingerprint, killed and resumed or not
_TIMING_PREFIX, _TIMING_SUFFIX = "time_", "tokens_per_s"


def _metric_rows(prefix: str, m: dict) -> list[tuple[str, int, float]]:
    step = int(m.get("step", 0))
    return [(f"{prefix}.{k.replace('/', '.')}", step, float(v)) for k, v in m.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)]


def _recorder(ctx: RunContext, stage, fp: str, prefix: str, probe: str):
    """on_step for a resumable RL stage: records a step's metrics unless an earlier (killed) attempt of this
    fingerprint already recorded that step, so that every step is in the manifest once."""
    done = ctx.manifest.query(
        "SELECT coalesce(max(m.step), 0) AS s FROM metrics m JOIN stage_runs r USING (stage_run_id) "
        "WHERE r.stage = ? AND r.fingerprint = ? AND m.name = ?", [stage.stage, fp, f"{prefix}.{probe}"])[0]["s"]

    def on_step(m: dict) -> None:
        if int(m.get("step", 0)) > done:
            ctx.manifest.record_metrics(stage.stage_run_id, _metric_rows(prefix, m))

    return on_step


def _work_lock(work: Path, what: str) -> OwnerLock:
    """One RL stage per work folder; a killed owner's lock is broken (its processes are the reaper's)."""
    return OwnerLock(str(work / "rl.lock"), timeout_s=RL_LOCK_TIMEOUT_S, what=what).acquire()


def _content_metrics(m: dict) -> dict:
    return {k: v for k, v in m.items() if not k.startswith(_TIMING_PREFIX) and not k.endswith(_TIMING_SUFFIX)}


def _table(art: dict, file: str):
    return read_parquet(loc(art["uri"]) / file)


def offline_rl_stage(ctx: RunContext, model: dict, tokenizer: dict, rl_prompts: dict, sft_data: dict | None,
                     config: OfflineRLConfig, ray_address: str | None = None) -> dict:
    from s1model.rl.offline import offline_rl

    t0 = time.perf_counter()
    parents = [model, tokenizer, rl_prompts] + ([sft_data] if sft_data else [])
    fp = fingerprint("offline_rl", RL_CODE_VERSION, config, [p["content_sha256"] for p in parents])
    with ctx.stage("offline_rl", fp, ["offline_rl"]) as stage:
        if stage.cached:
            a = stage.artifacts["offline_rl"]
            return {**json.loads(a["meta_json"]), "cached": True, "artifact": f"offline_rl:{a['version']}"}
        out = ctx.root.local_staging()  # the trainer writes local files; uploaded on commit to a store
        work = ctx.root.work_path("offline_rl", fp)  # selection + SFT checkpoints: a killed attempt resumes here
        tok_dir = str(local_copy(tokenizer["uri"]))
        lock = _work_lock(work, f"offline RL work folder {work}")
        try:
            res = offline_rl(config, hf_dir(model), tok_dir, _table(rl_prompts, "prompts.parquet"),
                             _table(sft_data, "sft.parquet") if sft_data else None, str(out),
                             on_step=_recorder(ctx, stage, fp, "offline", "sft_loss"), ray_address=ray_address,
                             work_dir=str(work))
        finally:
            lock.release()
        for f in Path(tok_dir).glob("*.json"):
            shutil.copy2(f, out / "hf" / f.name)
        meta = {"counts": res.get("counts"), "mixture": res.get("mixture"), "timings": res.get("timings"),
                "resumed_from": res.get("resumed_from")}
        aid = stage.commit(out, "offline_rl", "hf", [p["artifact_id"] for p in parents], meta=meta,
                           rows=(res.get("counts") or {}).get("kept"))
        a = ctx.manifest.resolve_artifact(aid)
        return {**meta, "cached": False, "seconds": time.perf_counter() - t0, "artifact": f"offline_rl:{a['version']}"}


def online_rl_stage(ctx: RunContext, model: dict, tokenizer: dict, prompts: dict, config: OnlineRLConfig,
                    ray_address: str | None = None) -> dict:
    from s1model.rl.online import online_rl

    t0 = time.perf_counter()
    parents = [model, tokenizer, prompts]
    fp = fingerprint("online_rl", RL_CODE_VERSION, config, [p["content_sha256"] for p in parents])
    with ctx.stage("online_rl", fp, ["online_rl", "rl_checkpoint"]) as stage:
        if stage.cached:
            a = stage.artifacts["online_rl"]
            return {**json.loads(a["meta_json"]), "cached": True,
                    "artifact": f"rl_checkpoint:{stage.artifacts['rl_checkpoint']['version']}"}
        work = ctx.root.work_path("online_rl", fp)
        # the offline stage writes the difficulty-filtered mixture; a prompts artifact is used as is
        p = loc(prompts["uri"])
        table = _table(prompts, "rl_prompts_kept.parquet" if (p / "rl_prompts_kept.parquet").exists()
                       else "prompts.parquet")
        tok_dir = str(local_copy(tokenizer["uri"]))
        lock = _work_lock(work, f"online RL work folder {work}")
        try:
            res = online_rl(config, hf_dir(model), tok_dir, table, str(work),
                            on_step=_recorder(ctx, stage, fp, "rl", "reward_mean"), ray_address=ray_address)
        finally:
            lock.release()
        report = ctx.root.local_staging()
        history = res.get("history") or res.get("metrics") or []
        last = (history or [{}])[-1]
        averaged = [Path(p).name for p in res.get("averaged_from") or []]
        meta = {"final_step": res.get("final_step"), "resumed_from": res.get("resumed_from"),
                "averaged_from": averaged, "last_step_metrics": last, "prompts": table.num_rows}
        # the file holds what the run computed (every step, timings left out), so that a resumed run's artifact is
        # byte-identical to an uninterrupted one's; timings and where it resumed are in the meta and the metrics
        content = {"final_step": res.get("final_step"), "averaged_from": averaged, "prompts": table.num_rows,
                   "metrics": [_content_metrics(m) for m in history]}
        (report / "online_rl.json").write_text(json.dumps(content, default=str, sort_keys=True))
        run_id = stage.commit(report, "online_rl", "json", [p["artifact_id"] for p in parents], meta=meta)
        ckpt = ctx.root.local_staging()
        _copy_tree(Path(res["hf_checkpoint"]), ckpt)
        for f in Path(tok_dir).glob("*.json"):
            shutil.copy2(f, ckpt / f.name)
        cid = stage.commit(ckpt, "rl_checkpoint", "hf", [p["artifact_id"] for p in parents] + [run_id], meta=meta)
        a = ctx.manifest.resolve_artifact(cid)
        return {**meta, "cached": False, "seconds": time.perf_counter() - t0, "artifact": f"rl_checkpoint:{a['version']}"}


class _RLParams(RunParams):
    """What every RL flow takes: the starting checkpoint, the tokenizer, the recipe and where Ray runs."""

    model: str = Field("cpt_checkpoint", description="HF checkpoint artifact to start from.")
    tokenizer: str = Field("tokenizer", description="Tokenizer artifact.")
    recipe: str = Field("tiny", description=f"RL recipe: {', '.join(sorted(RL_RECIPES))}.")
    ray_address: str | None = Field(None, description="Ray cluster address (default: a local Ray).")


class OfflineRLFlowParams(_RLParams):
    rl_prompts: str = Field("rl_prompts", description="Bootcamp rl_prompts artifact.")
    sft_data: str | None = Field("sft_data", description="Bootcamp reference traces trained on with best-of-N.")
    offline: overrides_of(OfflineRLConfig) = Field(default_factory=dict,
                                                   description="OfflineRLConfig fields overriding the recipe.")


class RLFlowParams(OfflineRLFlowParams):
    online: overrides_of(OnlineRLConfig) = Field(default_factory=dict,
                                                 description="OnlineRLConfig fields overriding the recipe.")
    skip_offline: bool = Field(False, description="Go straight to online RL.")


class OnlineRLFlowParams(_RLParams):
    model: str = Field("offline_rl", description="HF checkpoint artifact to start from (offline_rl, "
                                                 "cpt_checkpoint, rl_checkpoint).")
    prompts: str = Field("offline_rl", description="Prompt artifact: offline_rl (its difficulty-filtered mixture) "
                                                   "or rl_prompts.")
    online: overrides_of(OnlineRLConfig) = Field(default_factory=dict,
                                                 description="OnlineRLConfig fields overriding the recipe.")


def rl_configs(recipe: str, offline: dict, online: dict) -> tuple[OfflineRLConfig, OnlineRLConfig]:
    if recipe not in RL_RECIPES:
        raise ValueError(f"unknown RL recipe {recipe!r}; recipes: {', '.join(sorted(RL_RECIPES))}")
    off, on = RL_RECIPES[recipe]()
    return (OfflineRLConfig(**{**off.model_dump(), **offline}), OnlineRLConfig(**{**on.model_dump(), **online}))


def online_prompts(ctx: RunContext, offline: dict, warn: bool = True) -> dict:
    """The prompts online RL takes from an offline_rl artifact: its difficulty-filtered mixture, or, when the filter
    kept none (the model solves none or all), the unfiltered rl_prompts it read. The fallback is a warning when the
    offline stage just ran (warn) and an info line when it came from cache (said once, by the run that made it)."""
    if (json.loads(offline["meta_json"] or "{}").get("counts") or {}).get("kept"):
        return offline
    unfiltered = [a for a in ctx.manifest.ancestors(offline["artifact_id"]) if a["name"] == "rl_prompts"]
    if not unfiltered:
        raise ValueError(f"offline_rl:{offline['version']} kept no prompt and has no rl_prompts parent; "
                         "pass prompts=rl_prompts")
    (ctx.log.warning if warn else ctx.log.info)(
        "offline_rl:%s kept no prompt (the model solves none or all); online RL uses the unfiltered rl_prompts:%s",
        offline["version"], unfiltered[0]["version"])
    return unfiltered[0]


def rl_stages(ctx: RunContext, model: dict, tokenizer: dict, rl_prompts: dict, sft_data: dict | None,
              recipe: str, offline: dict, online: dict, skip_offline: bool, ray_address: str | None) -> dict:
    off_cfg, on_cfg = rl_configs(recipe, offline, online)
    out: dict = {}
    prompts = rl_prompts
    if not skip_offline:
        out["offline_rl"] = offline_rl_stage(ctx, model, tokenizer, rl_prompts, sft_data, off_cfg, ray_address)
        model = ctx.manifest.resolve_artifact(out["offline_rl"]["artifact"])
        prompts = online_prompts(ctx, model, warn=not out["offline_rl"]["cached"])
        if prompts is not model:
            out["offline_rl"]["online_prompts"] = "unfiltered: the difficulty filter kept none"
    out["online_rl"] = online_rl_stage(ctx, model, tokenizer, prompts, on_cfg, ray_address)
    return out


@flow(name="rl", log_prints=True)
def rl_flow(params: RLFlowParams) -> dict:
    """Offline RL (best-of-N SFT) then online RL with a Mixture-of-Rewards on Ray."""
    with open_run("rl", params) as ctx:
        m = ctx.manifest
        out = rl_stages(ctx, m.resolve_artifact(params.model), m.resolve_artifact(params.tokenizer),
                        m.resolve_artifact(params.rl_prompts),
                        m.resolve_artifact(params.sft_data) if params.sft_data else None, params.recipe,
                        params.offline, params.online, params.skip_offline, params.ray_address)
        return {"run_id": ctx.run_id, **out}


@flow(name="offline-rl", log_prints=True)
def offline_rl_flow(params: OfflineRLFlowParams) -> dict:
    """Verified best-of-N sampling, difficulty filtering by pass@k, SFT on the kept responses and reference traces."""
    with open_run("offline-rl", params) as ctx:
        m = ctx.manifest
        off, _ = rl_configs(params.recipe, params.offline, {})
        out = offline_rl_stage(ctx, m.resolve_artifact(params.model), m.resolve_artifact(params.tokenizer),
                               m.resolve_artifact(params.rl_prompts),
                               m.resolve_artifact(params.sft_data) if params.sft_data else None, off,
                               params.ray_address)
        return {"run_id": ctx.run_id, "offline_rl": out}


@flow(name="online-rl", log_prints=True)
def online_rl_flow(params: OnlineRLFlowParams) -> dict:
    """Groups of rollouts on Ray actors, Mixture-of-Rewards, OREAL/GRPO updates with KL-Cov; resumable."""
    with open_run("online-rl", params) as ctx:
        m = ctx.manifest
        _, on = rl_configs(params.recipe, {}, params.online)
        prompts = m.resolve_artifact(params.prompts)
        if prompts["name"] == "offline_rl":
            prompts = online_prompts(ctx, prompts)
        out = online_rl_stage(ctx, m.resolve_artifact(params.model), m.resolve_artifact(params.tokenizer), prompts,
                              on, params.ray_address)
        return {"run_id": ctx.run_id, "online_rl": out}
