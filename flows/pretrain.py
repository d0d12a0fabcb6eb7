"""Continued-pretraining stage: token_shards (+ tokenizer) -> cpt_checkpoint (DeepSpeed checkpoints + HF export).

The flow starts the trainer as its own process (`python -m s1model.train_entry`, or the `deepspeed` launcher for
GPUs / a hostfile), follows its metrics file and checkpoint folder, and records every step's metrics and every
DeepSpeed checkpoint in the manifest as it appears. Its working folder is keyed by the stage fingerprint, so a
killed run resumes from the last checkpoint on `s1 rerun` and reproduces the uninterrupted loss curve.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from prefect import flow
from pydantic import BaseModel, Field

from flows.context import RunContext, RunParams, StageProgress, open_run, overrides_of
from flows.tokens import link_or_copy, shard_paths
from s1model.config import RECIPES, PretrainConfig
from s1model.procs import OwnerLock, alive, break_stale_build_locks, die_with_parent, die_with_parent_term, stop, tag_of
from storage import fingerprint, local_copy

PRETRAIN_CODE_VERSION = "pretrain-1"
TRAINER_LOCK_TIMEOUT_S = 120.0  # a live trainer of another run in the same work folder: wait this long, then fail


def _stop_recorded_trainer(held: dict) -> None:
    """A dead flow's trainer.lock: stop the trainer it recorded if that process still runs (an orphan)."""
    trainer = held.get("trainer")
    if trainer and alive(trainer):
        stop([int(trainer.split(":")[0])], grace_s=5.0)


class LaunchConfig(BaseModel):
    num_gpus: int | None = Field(None, ge=1, description="GPUs per node for the deepspeed launcher (None: one "
                                                         "process on this machine, CPU or one GPU).")
    hostfile: str | None = Field(None, description="DeepSpeed hostfile for multi-node runs.")
    num_nodes: int | None = Field(None, ge=1, description="Nodes to use from the hostfile.")
    master_addr: str | None = Field(None, description="Rendezvous address for multi-node runs.")
    stall_timeout_s: float = Field(3600.0, gt=0, description="Stop the trainer and fail the stage when neither its "
                                   "log nor its metrics grew for this long (a hang: a lock, a dead rank).")


def _copy_tree(src: Path, dst: Path) -> None:
    """Hard links where the filesystem allows (checkpoints are large), copies otherwise."""
    shutil.copytree(src, dst, copy_function=link_or_copy, dirs_exist_ok=True)


def hf_dir(art: dict) -> str:
    """The HF checkpoint folder inside a checkpoint artifact (cpt_checkpoint, offline_rl, rl_checkpoint), as a local
    path (an artifact on an object store is downloaded once into the local cache)."""
    p = local_copy(art["uri"])
    return str(p / "hf") if (p / "hf" / "config.json").exists() else str(p)


def _metric_rows(m: dict) -> list[tuple[str, int, float]]:
    step = int(m["step"])
    rows = [(f"train.{k}", step, float(m[k])) for k in ("loss", "aux_loss", "z_loss", "grad_norm", "lr",
                                                       "tokens_per_s", "mfu", "step_time_s", "tokens")
            if m.get(k) is not None]
    for li, layer in enumerate(m.get("expert_load") or []):
        rows += [(f"train.expert_load.L{li}.E{e}", step, float(v)) for e, v in enumerate(layer)]
    return rows


def pretrain_stage(ctx: RunContext, shards: dict, tokenizer: dict | None, config: PretrainConfig,
                   launch: LaunchConfig | None = None, init: dict | None = None) -> dict:
    """Train, recording metrics and checkpoints as they appear; returns the stage summary.

    `init`: a cpt_checkpoint artifact in HF layout to continue from (sets `init_from` and becomes a lineage parent)."""
    from s1model.launch import deepspeed_command, local_command
    from s1model.train import list_checkpoints

    launch = launch or LaunchConfig()
    t0 = time.perf_counter()
    if tokenizer is not None:
        vocab = json.loads(tokenizer["meta_json"] or "{}").get("vocab_size")
        if vocab:
            config = config.model_copy(update={"model": config.model.model_copy(update={"vocab_size": int(vocab)})})
    if init is not None:
        config = config.model_copy(update={"init_from": hf_dir(init)})
    parents = [shards] + ([tokenizer] if tokenizer else []) + ([init] if init else [])
    fp = fingerprint("pretrain", PRETRAIN_CODE_VERSION, config, [p["content_sha256"] for p in parents])
    with ctx.stage("pretrain", fp, ["cpt_checkpoint"]) as stage:
        if stage.cached:
            a = stage.artifacts["cpt_checkpoint"]
            return {**json.loads(a["meta_json"]), "cached": True, "artifact": f"cpt_checkpoint:{a['version']}"}
        work = ctx.root.work_path("pretrain", fp)
        metrics_path, result_path = work / "metrics.jsonl", work / "result.json"
        result_path.unlink(missing_ok=True)
        (work / "config.json").write_text(config.model_dump_json(indent=2))
        kw = dict(metrics_path=str(metrics_path), result_path=str(result_path))
        if launch.num_gpus or launch.hostfile:
            cmd = deepspeed_command(str(work / "config.json"), shard_paths(shards), str(work), hostfile=launch.hostfile,
                                    num_gpus=launch.num_gpus, num_nodes=launch.num_nodes,
                                    master_addr=launch.master_addr, **kw)
        else:
            cmd = local_command(str(work / "config.json"), shard_paths(shards), str(work), **kw)
        ctx.log.info("pretrain: %s", " ".join(cmd))
        # Steps already in the manifest for this fingerprint (an earlier, killed attempt) are not recorded again;
        # lines the trainer wrote but a killed flow never recorded are picked up from the start of the file.
        offset = 0
        last_recorded = ctx.manifest.query(
            "SELECT coalesce(max(m.step), 0) AS s FROM metrics m JOIN stage_runs r USING (stage_run_id) "
            "WHERE r.stage = 'pretrain' AND r.fingerprint = ? AND m.name = 'train.loss'", [fp])[0]["s"]
        recorded = {int(json.loads(a["meta_json"])["step"]) for a in ctx.manifest.query(
            "SELECT meta_json FROM artifacts WHERE name = 'cpt_checkpoint' AND kind = 'deepspeed' "
            "AND fingerprint LIKE ?", [fp + "-step%"])}
        ckpt_ids: dict[int, int] = {}
        log_path = work / "train.log"
        # One trainer per work folder: a trainer left running by a killed flow (its owner is dead) is stopped before
        # this one starts, or both would write the same checkpoints; a live one (another run) is waited for.
        lock = OwnerLock(str(work / "trainer.lock"), timeout_s=TRAINER_LOCK_TIMEOUT_S,
                         what=f"pretraining work folder {work}")
        lock.acquire(on_dead=_stop_recorded_trainer)
        break_stale_build_locks()  # a killed trainer's DeepSpeed op build lock would make this one wait forever
        with open(log_path, "ab") as log:
            # the `deepspeed` launcher stops its ranks on SIGTERM; a lone trainer is killed outright
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=False,
                                    preexec_fn=die_with_parent_term if cmd[0] != sys.executable else die_with_parent)
            lock.update(trainer=tag_of(proc.pid))
            ui_progress = StageProgress("pretraining steps", config.max_steps)
            last_loss = None
            progress, last_progress = None, time.monotonic()
            while True:
                done = proc.poll() is not None
                now = (log_path.stat().st_size, metrics_path.stat().st_size if metrics_path.exists() else 0)
                if now != progress:
                    progress, last_progress = now, time.monotonic()
                elif not done and time.monotonic() - last_progress > launch.stall_timeout_s:
                    stop([proc.pid], grace_s=10.0)
                    proc.wait()
                    lock.release()
                    raise RuntimeError(f"trainer wrote nothing for {launch.stall_timeout_s:.0f} s "
                                       f"(launch.stall_timeout_s) and was stopped; its log: {log_path}")
                if metrics_path.exists():
                    with open(metrics_path) as f:
                        f.seek(offset)
                        chunk = f.read()
                    complete = chunk[: chunk.rfind("\n") + 1]
                    offset += len(complete.encode())
                    rows = []
                    for line in complete.splitlines():
                        m = json.loads(line)
                        last_loss = m.get("loss", last_loss)
                        if int(m["step"]) > last_recorded:
                            rows += _metric_rows(m)
                            ui_progress.advance(int(m["step"]) - ui_progress.done)
                            last_recorded = int(m["step"])
                    if rows:
                        ctx.manifest.record_metrics(stage.stage_run_id, rows)
                for ck in list_checkpoints(str(work / "checkpoints")):
                    if ck["step"] in recorded:
                        continue
                    staging = ctx.root.local_staging()  # uploaded on commit when artifacts are on a store
                    _copy_tree(Path(ck["path"]), staging / Path(ck["path"]).name)
                    for extra in ("latest", "hf_config.json", "pretrain_config.json"):
                        src = work / "checkpoints" / extra
                        if src.exists():
                            shutil.copy2(src, staging / extra)
                    (staging / "latest").write_text(Path(ck["path"]).name)
                    ckpt_ids[ck["step"]] = stage.commit(staging, "cpt_checkpoint", "deepspeed",
                                                        [p["artifact_id"] for p in parents],
                                                        fingerprint=f"{fp}-step{ck['step']}",
                                                        meta={"step": ck["step"], "layout": "deepspeed"})
                    recorded.add(ck["step"])
                if done:
                    break
                time.sleep(1.0)
        lock.release()
        if proc.returncode != 0:
            tail = log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"trainer exited with code {proc.returncode}; last log lines:\n{tail}")
        result = json.loads(result_path.read_text())
        hf = Path(result["hf_export"])
        staging = ctx.root.local_staging()
        _copy_tree(hf, staging)
        if tokenizer is not None:
            for f in local_copy(tokenizer["uri"]).glob("*.json"):
                shutil.copy2(f, staging / f.name)
        meta = {"final_step": result["final_step"], "resumed_from": result.get("resumed_from"),
                "world_size": result.get("world_size"), "final_loss": last_loss, "layout": "hf",
                "work_dir": str(work), "command": cmd}
        last_ck = [ckpt_ids[s] for s in sorted(ckpt_ids)[-1:]]
        if not last_ck:
            last_ck = [a["artifact_id"] for a in ctx.manifest.query(
                "SELECT artifact_id FROM artifacts WHERE name = 'cpt_checkpoint' AND fingerprint LIKE ? "
                "ORDER BY artifact_id DESC LIMIT 1", [fp + "-step%"])]
        aid = stage.commit(staging, "cpt_checkpoint", "hf", [p["artifact_id"] for p in parents] + last_ck, meta=meta)
        a = ctx.manifest.resolve_artifact(aid)
        return {**meta, "cached": False, "seconds": time.perf_counter() - t0,
                "artifact": f"cpt_checkpoint:{a['version']}"}


class PretrainFlowParams(RunParams):
    shards: str = Field("token_shards", description="Token shards artifact (name, name:version or id).")
    tokenizer: str | None = Field("tokenizer", description="Tokenizer artifact, for the vocabulary size.")
    recipe: str = Field("tiny", description=f"Named recipe: {', '.join(sorted(RECIPES))}.")
    init: str | None = Field(None, description="Hugging Face checkpoint to continue from (overrides the recipe's "
                                               "model): a folder, or a checkpoint artifact in HF layout "
                                               "(cpt_checkpoint:V, rl_checkpoint:V, an id), which becomes a parent.")
    pretrain: overrides_of(PretrainConfig) = Field(default_factory=dict,
                                                   description="PretrainConfig fields that override the recipe.")
    launch: LaunchConfig = Field(default_factory=LaunchConfig, description="Launcher (GPUs, hostfile).")


def build_config(recipe: str, init: str | None, overrides: dict) -> PretrainConfig:
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; recipes: {', '.join(sorted(RECIPES))}")
    data = RECIPES[recipe]().model_dump()
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k].update(v)
        else:
            data[k] = v
    if init:
        data["init_from"] = init
    return PretrainConfig(**data)


@flow(name="pretrain", log_prints=True)
def pretrain_flow(params: PretrainFlowParams) -> dict:
    """Continue pretraining a Qwen3-MoE model on token shards with DeepSpeed."""
    with open_run("pretrain", params) as ctx:
        shards = ctx.manifest.resolve_artifact(params.shards)
        tok = ctx.manifest.resolve_artifact(params.tokenizer) if params.tokenizer else None
        config, init = pretrain_config(ctx, params.recipe, params.init, params.pretrain, shards)
        out = pretrain_stage(ctx, shards, tok, config, params.launch, init=init)
        return {"run_id": ctx.run_id, **out}


def pretrain_config(ctx: RunContext, recipe: str, init: str | None, overrides: dict,
                    shards: dict | None = None) -> tuple[PretrainConfig, dict | None]:
    """The flows' PretrainConfig and init artifact: recipe + overrides, `init` resolved (resolve_init), and seq_len
    from `shards` (the rows are packed to it) unless the overrides set it."""
    init_art, init_dir = resolve_init(ctx, init) if init else (None, None)
    config = build_config(recipe, init_dir, overrides)
    seq_len = json.loads(shards["meta_json"] or "{}").get("seq_len") if shards else None
    if seq_len and "seq_len" not in overrides:
        config = config.model_copy(update={"seq_len": int(seq_len)})
    return config, init_art


def resolve_init(ctx: RunContext, ref: str) -> tuple[dict | None, str | None]:
    """`init` as (checkpoint artifact, None) or (None, folder). A folder that is a committed artifact counts as the
    artifact, so the lineage still reaches it."""
    from storage import ManifestError

    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"init {ref!r}: no config.json there; give a Hugging Face checkpoint folder")
        rows = ctx.manifest.query("SELECT artifact_id FROM artifacts WHERE uri = ? AND kind = 'hf' "
                                  "ORDER BY artifact_id DESC LIMIT 1", [str(path.resolve())])
        return (ctx.manifest.resolve_artifact(rows[0]["artifact_id"]), None) if rows else (None, str(path))
    try:
        art = ctx.manifest.resolve_artifact(ref)
    except ManifestError as e:
        raise ValueError(f"init {ref!r} is neither a folder nor a checkpoint artifact ({e})") from None
    if art["kind"] != "hf" or not (Path(hf_dir(art)) / "config.json").exists():
        raise ValueError(f"init {ref!r} is {art['name']}:{art['version']} of kind {art['kind']!r}, not a Hugging Face "
                         "checkpoint; `s1 run export-hf` makes one from a DeepSpeed step checkpoint")
    return art, None


EXPORT_CODE_VERSION = "export-hf-1"


class ExportFlowParams(RunParams):
    checkpoint: str = Field(..., description="A DeepSpeed cpt_checkpoint artifact (name:version or id), e.g. one "
                                             "of the step checkpoints `s1 lineage` lists; any ZeRO stage or EP size.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field("auto", description="Weights dtype of the export (auto: "
                                                                              "the dtype they were trained in).")


def export_stage(ctx: RunContext, checkpoint: dict, dtype: str = "auto") -> dict:
    """A DeepSpeed `cpt_checkpoint` -> a `cpt_checkpoint` in Hugging Face layout (+ the run's tokenizer files)."""
    import torch

    from flows.context import single_stage
    from s1model.export import export_hf

    if checkpoint["name"] != "cpt_checkpoint":
        raise ValueError(f"{checkpoint['name']}:{checkpoint['version']} is not a cpt_checkpoint; export-hf takes a "
                         "DeepSpeed step checkpoint of a pretraining run")
    if checkpoint["kind"] != "deepspeed":
        raise ValueError(f"cpt_checkpoint:{checkpoint['version']} is already in {checkpoint['kind']!r} layout; "
                         "export-hf takes a DeepSpeed step checkpoint")
    tokenizers = [a for a in ctx.manifest.ancestors(checkpoint["artifact_id"]) if a["name"] == "tokenizer"]
    step = json.loads(checkpoint["meta_json"] or "{}").get("step")

    t0 = time.perf_counter()

    def build(dirs):
        out = dirs["cpt_checkpoint"]
        export_hf(str(local_copy(checkpoint["uri"])), str(out), dtype=None if dtype == "auto" else getattr(torch, dtype))
        for f in local_copy(tokenizers[0]["uri"]).glob("*.json") if tokenizers else []:
            shutil.copy2(f, out / f.name)
        return {"cpt_checkpoint": {"meta": {"step": step, "layout": "hf", "exported_from": checkpoint["artifact_id"]}}}

    arts, cached = single_stage(ctx, "export_hf", EXPORT_CODE_VERSION, {"dtype": dtype}, [checkpoint],
                                {"cpt_checkpoint": "hf"}, build)
    a = arts["cpt_checkpoint"]
    return {"artifact": f"cpt_checkpoint:{a['version']}", "uri": a["uri"], "step": step, "cached": cached,
            "seconds": time.perf_counter() - t0}


@flow(name="export-hf", log_prints=True)
def export_flow(params: ExportFlowParams) -> dict:
    """Export a DeepSpeed pretraining checkpoint to Hugging Face layout, with lineage back to it."""
    with open_run("export-hf", params) as ctx:
        return {"run_id": ctx.run_id, **export_stage(ctx, ctx.manifest.resolve_artifact(params.checkpoint),
                                                     params.dtype)}
