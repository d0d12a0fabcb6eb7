"""TAIL length-generalization experiment (issue 9): per arm, bootcamp data on S -> shards -> a fresh model -> greedy
evaluation with the exact verifier on fresh S / M / L prompts -> a report.

Stages and artifacts (lineage in brackets):
  tail_eval_prompts (stage tail_eval_prompts)                       [the arms' tail_train_data]
  tail_train_data per arm (stage tail_train_data)                   []
  tokenizer (stage tail_tokenizer, trained once on every arm)       [every tail_train_data]
  token_shards per arm (stage tail_shards)                          [tail_train_data, tokenizer]
  cpt_checkpoint per arm (stage pretrain via DeepSpeed, or tail_train_torch)   [token_shards, tokenizer]
  tail_eval per arm (stage tail_eval: outputs, verdicts, accuracies) [cpt_checkpoint, tail_eval_prompts, tokenizer]
  tail_report (stage tail_report: markdown + JSON)                  [every tail_eval]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from prefect import flow
from pydantic import Field, model_validator

from flows.context import RunContext, RunParams, open_run, overrides_of, single_stage
from flows.pretrain import pretrain_stage
from flows.tokens import shard_paths
from s1model.config import PretrainConfig

TAIL_EXPERIMENT_CODE_VERSION = "tail-experiment-2"
Arm = Literal["tail", "direct", "reversed", "index_hints", "tail_no_fetch", "tail_no_linear", "tail_no_atomic"]


class TailExperimentParams(RunParams):
    task: str = Field("tail_addition", description="Length-bucketed bootcamp task (reversed and index_hints arms "
                      "exist for tail_addition only).")
    arms: list[Arm] = Field(["tail", "direct", "reversed", "index_hints", "tail_no_fetch"],
                            description="Training formats: TAIL-CoT, answer only, the paper's baselines, and TAIL "
                                        "without memory fetch / linear transition / atomic states (ablations).")
    train_examples: int = Field(20000, ge=1, description="Training problems per arm (bucket S).")
    eval_per_bucket: int = Field(500, ge=1, description="Fresh evaluation prompts per bucket S / M / L.")
    seed: int = Field(0, description="Seed of training data, model init and data order (the same in every arm).")
    eval_seed: int = Field(1, description="Seed of the evaluation prompts (sample_ids are kept disjoint).")
    vocab_size: int = Field(1024, ge=300, description="Text BPE size of the digit-level tokenizer.")
    trainer: Literal["deepspeed", "torch"] = Field(
        "deepspeed", description="deepspeed: our trainer (flows.pretrain stage, Qwen3-MoE); torch: the plain "
                                 "single-device loop of s1model.tail_experiment (dense Qwen3, the GPU benchmark).")
    pretrain: overrides_of(PretrainConfig) = Field(default_factory=lambda: {
        "model": {"hidden_size": 256, "num_layers": 6, "num_heads": 8, "num_kv_heads": 4, "head_dim": 32,
                  "num_experts": 4, "top_k": 2, "moe_intermediate_size": 512, "rope_theta": 10000.0,
                  "max_position_embeddings": 8192},
        "seq_len": 2048, "micro_batch_size": 12, "max_steps": 600, "lr": 1.5e-3, "warmup_steps": 60,
        "checkpoint_every": 0, "expert_parallel": "none", "zero_stage": 0},
        description="PretrainConfig fields (same in every arm: equal training tokens = steps x rows x seq_len).")
    warmup_steps: int = Field(0, ge=0, description="Steps of a task-free warm-up on digit strings of 1-60 digits "
                              "(copy, reverse, pad, index, walk; no arithmetic), one checkpoint every arm starts from: "
                              "the small-scale stand-in for a pretrained model. 0: every arm starts from scratch.")
    generic_mix: float = Field(0.0, ge=0.0, lt=1.0, description="Share of every arm's training characters given "
                               "to the same task-free corpus (replay), e.g. 0.1.")
    slack: float = Field(1.25, gt=0, description="Decoding budget = slack x longest reference of the bucket + 16.")
    max_new_tokens_cap: int | None = Field(None, ge=1, description="Hard cap on new tokens (CPU tests).")
    position: Literal["hf", "rope", "nope", "rope_random", "fire"] = Field(
        "hf", description="Model of the torch trainer. hf: dense HF Qwen3 with RoPE (the first attempt); else the "
        "experiment's own decoder (s1model.tail_model) with this position scheme: rope, nope (none), rope_random "
        "(random gaps between training positions), fire (learned relative bias). Needs trainer=torch.")
    abacus: bool = Field(False, description="Own decoder: add Abacus per-digit index embeddings (random offset while "
                         "training). Needs trainer=torch.")
    abacus_offset_max: int = Field(100, ge=0, description="Largest random Abacus offset while training.")
    random_gap_max: int = Field(4, ge=1, description="rope_random: training gaps between positions in 1..this.")
    abacus_direction: Literal["ltr", "rtl", "both"] = Field(
        "ltr", description="Abacus: ltr indexes every digit from its number's first digit; rtl indexes the prompt's "
        "digits from the right (index = significance + 1, so aligned digits of the operands share an index; McLeish "
        "et al.) and the response's from the left; both adds the two embeddings.")
    input_injection: bool = Field(False, description="Own decoder: add the input embedding to every layer's input.")

    @model_validator(mode="after")
    def _own_decoder_needs_torch(self):
        if (self.position != "hf" or self.abacus) and self.trainer != "torch":
            raise ValueError(f"position={self.position!r} / abacus={self.abacus} use the experiment's own decoder, "
                             "which only the plain loop trains: set trainer='torch'")
        if self.abacus and self.abacus_direction != "ltr" and (self.warmup_steps or self.generic_mix):
            raise ValueError(f"abacus_direction={self.abacus_direction!r} needs the response separator in every "
                             "document; the warm-up / replay corpus has none: use abacus_direction='ltr' with it")
        return self


def _pq(art: dict, name: str):
    from storage import loc, read_parquet

    return read_parquet(loc(art["uri"]) / name)


def _local(art: dict) -> str:
    """An artifact folder as a local path for torch / tokenizers (downloaded once from an object store)."""
    from storage import local_copy

    return str(local_copy(art["uri"]))


def train_data_stage(ctx: RunContext, p: TailExperimentParams, arm: str) -> dict:
    """Bootcamp export of the arm's S problems in its style."""
    import pyarrow.parquet as pq

    from s1model import tail_experiment as te

    def build(dirs):
        sft, excl = te.build_train_data(p.task, te.ARM_STYLES[arm], p.train_examples, p.seed)
        pq.write_table(sft, dirs["tail_train_data"] / "sft.parquet")
        pq.write_table(excl, dirs["tail_train_data"] / "exclusions.parquet")
        return {"tail_train_data": {"rows": sft.num_rows, "meta": {"arm": arm, "style": te.ARM_STYLES[arm],
                                                                   "task": p.task, "excluded": excl.num_rows}}}

    params = {"task": p.task, "arm": arm, "n": p.train_examples, "seed": p.seed}
    arts, _ = single_stage(ctx, "tail_train_data", TAIL_EXPERIMENT_CODE_VERSION, params, [],
                           {"tail_train_data": "parquet"}, build)
    return arts["tail_train_data"]


def eval_prompts_stage(ctx: RunContext, p: TailExperimentParams, train: list[dict]) -> dict:
    """Fresh S / M / L prompts whose sample_ids appear in no arm's training data."""
    import pyarrow.parquet as pq

    from s1model import tail_experiment as te

    def build(dirs):
        used = set().union(*(set(_pq(a, "sft.parquet").column("sample_id").to_pylist()) for a in train))
        prompts = te.build_eval_prompts(p.task, p.eval_per_bucket, p.eval_seed, used)
        pq.write_table(prompts, dirs["tail_eval_prompts"] / "prompts.parquet")
        return {"tail_eval_prompts": {"rows": prompts.num_rows, "meta": {"task": p.task, "seed": p.eval_seed}}}

    params = {"task": p.task, "n": p.eval_per_bucket, "seed": p.eval_seed}
    arts, _ = single_stage(ctx, "tail_eval_prompts", TAIL_EXPERIMENT_CODE_VERSION, params, train,
                           {"tail_eval_prompts": "parquet"}, build)
    return arts["tail_eval_prompts"]


def tokenizer_stage(ctx: RunContext, p: TailExperimentParams, train: list[dict]) -> dict:
    """One digit-level tokenizer trained on every arm's documents."""
    from s1data.tokenizer import load_tokenizer, train_tokenizer
    from s1model import tail_experiment as te

    def build(dirs):
        texts = [t for a in train for t in te.arm_documents(_pq(a, "sft.parquet").slice(0, 3000),
                                                            "x").column("text").to_pylist()]
        if generic:
            texts += te.generic_documents(3000, p.seed).column("text").to_pylist()
        info = train_tokenizer(te.digit_split_texts(texts), dirs["tokenizer"], te.tokenizer_config(p.vocab_size))
        te.check_digit_tokens(load_tokenizer(dirs["tokenizer"]))
        return {"tokenizer": {"meta": info}}

    generic = bool(p.warmup_steps or p.generic_mix)
    arts, _ = single_stage(ctx, "tail_tokenizer", TAIL_EXPERIMENT_CODE_VERSION, {"vocab": p.vocab_size,
                           "generic": generic}, train,
                           {"tokenizer": "folder"}, build)
    return arts["tokenizer"]


def shards_stage(ctx: RunContext, p: TailExperimentParams, data: dict, tok: dict, arm: str, seq_len: int) -> dict:
    """The arm's documents packed into token shards."""
    from s1data.shards import ShardConfig, write_shards
    from s1model import tail_experiment as te

    def build(dirs):
        docs = te.mix_generic(te.arm_documents(_pq(data, "sft.parquet"), arm), p.generic_mix, p.seed + 11)
        info = write_shards(docs, _local(tok), dirs["token_shards"], ShardConfig(seq_len=seq_len, remainder="pad"),
                            p.seed)
        return {"token_shards": {"rows": sum(s["rows"] for s in info), "tokens": sum(s["tokens"] for s in info),
                                 "meta": {"arm": arm, "seq_len": seq_len, "shards": len(info),
                                          "generic_mix": p.generic_mix}}}

    arts, _ = single_stage(ctx, "tail_shards", TAIL_EXPERIMENT_CODE_VERSION, {"arm": arm, "seq_len": seq_len,
                           "seed": p.seed, "generic_mix": p.generic_mix}, [data, tok], {"token_shards": "parquet"},
                           build)
    return arts["token_shards"]


def warmup_shards_stage(ctx: RunContext, p: TailExperimentParams, tok: dict, tokens: int, seq_len: int) -> dict:
    """The task-free warm-up corpus (te.generic_documents, ~1.1 passes over `tokens`) packed into token shards."""
    from s1data.shards import ShardConfig, write_shards
    from s1model import tail_experiment as te

    def build(dirs):
        docs = te.generic_documents_for_tokens(tokens, p.seed + 7)
        info = write_shards(docs, _local(tok), dirs["token_shards"], ShardConfig(seq_len=seq_len, remainder="pad"),
                            p.seed)
        return {"token_shards": {"rows": sum(s["rows"] for s in info), "tokens": sum(s["tokens"] for s in info),
                                 "meta": {"arm": "generic_warmup", "seq_len": seq_len, "documents": docs.num_rows}}}

    arts, _ = single_stage(ctx, "tail_warmup_shards", TAIL_EXPERIMENT_CODE_VERSION, {"tokens": tokens,
                           "seq_len": seq_len, "seed": p.seed}, [tok], {"token_shards": "parquet"}, build)
    return arts["token_shards"]


def torch_train_stage(ctx: RunContext, cfg: PretrainConfig, shards: dict, tok: dict, init: dict | None = None,
                      model_opts: dict | None = None) -> dict:
    """The plain torch loop (dense Qwen3, or the experiment's own decoder when `model_opts` names a position scheme,
    or continued from the `init` checkpoint) -> a checkpoint with the tokenizer files beside it."""
    import shutil

    from s1data.tokenizer import load_tokenizer
    from s1model import tail_experiment as te
    from s1model.tail_model import digit_token_ids

    opts = dict(model_opts or {})

    def build(dirs):
        if init is not None:
            model = te.load_model(_local(init), device="cpu").float().train()
        elif opts.get("position", "hf") != "hf" or opts.get("abacus"):
            digits = digit_token_ids(load_tokenizer(_local(tok)))
            model = te.build_tail_decoder(cfg.model, seed=cfg.seed, position=opts.get("position", "rope"),
                                          abacus=bool(opts.get("abacus")), digit_ids=digits,
                                          abacus_offset_max=opts.get("abacus_offset_max", 100),
                                          abacus_max=max(256, opts.get("abacus_offset_max", 100) + 128),
                                          random_gap_max=opts.get("random_gap_max", 4),
                                          abacus_direction=opts.get("abacus_direction", "ltr"),
                                          abacus_sep_id=opts.get("abacus_sep_id", -1),
                                          input_injection=bool(opts.get("input_injection")))
        else:
            model = te.build_decoder(cfg.model, seed=cfg.seed, dense=True)
        out = te.train_torch(model, shard_paths(shards), str(dirs["cpt_checkpoint"]), seq_len=cfg.seq_len,
                             batch_rows=cfg.micro_batch_size, max_steps=cfg.max_steps, lr=cfg.lr, seed=cfg.seed,
                             warmup_steps=cfg.warmup_steps)
        for f in Path(_local(tok)).glob("*.json"):
            shutil.copy2(f, dirs["cpt_checkpoint"] / f.name)
        metrics = [("train.loss", m["step"], m["loss"]) for m in out["history"]]
        return {"cpt_checkpoint": {"tokens": out["tokens"], "metrics": metrics,
                                   "meta": {k: v for k, v in out.items() if k != "history"}
                                   | {"layout": "hf" if type(model).__name__ != "TailDecoder" else "tail_model",
                                      "model_opts": opts}}}

    key = cfg if not opts or (opts.get("position", "hf") == "hf" and not opts.get("abacus")) else {
        "pretrain": cfg.model_dump(), "tail_model": opts}
    arts, _ = single_stage(ctx, "tail_train_torch", TAIL_EXPERIMENT_CODE_VERSION, key,
                           [shards, tok] + ([init] if init else []), {"cpt_checkpoint": "hf"}, build)
    return arts["cpt_checkpoint"]


def eval_stage(ctx: RunContext, p: TailExperimentParams, arm: str, ckpt: dict, prompts: dict, tok: dict) -> dict:
    """Greedy decoding of every prompt, scored by the bootcamp verifier; accuracies as metrics and meta."""
    import pyarrow.parquet as pq

    from s1data.tokenizer import load_tokenizer
    from s1model import tail_experiment as te

    def build(dirs):
        model = te.load_model(_local(ckpt))
        if hasattr(model.config, "use_cache"):
            model.config.use_cache = True
        rows = te.evaluate(model, load_tokenizer(_local(tok)), _pq(prompts, "prompts.parquet"), p.task,
                           te.ARM_STYLES[arm], slack=p.slack, max_new_tokens_cap=p.max_new_tokens_cap)
        pq.write_table(rows, dirs["tail_eval"] / "outputs.parquet")
        acc = te.accuracy_by_bucket(rows)
        metrics = [(f"tail.{arm}.accuracy.{b}", None, v["accuracy"]) for b, v in acc.items()]
        return {"tail_eval": {"rows": rows.num_rows, "metrics": metrics,
                              "meta": {"arm": arm, "task": p.task, "accuracy": acc}}}

    params = {"arm": arm, "slack": p.slack, "cap": p.max_new_tokens_cap}
    arts, _ = single_stage(ctx, "tail_eval", TAIL_EXPERIMENT_CODE_VERSION, params, [ckpt, prompts, tok],
                           {"tail_eval": "parquet"}, build)
    return arts["tail_eval"]


def report_stage(ctx: RunContext, p: TailExperimentParams, evals: dict[str, dict], setup: dict) -> tuple[dict, str]:
    """Markdown table in the paper's layout + JSON, as one artifact; also published as a Prefect artifact."""
    from s1model import tail_experiment as te

    acc = {arm: json.loads(a["meta_json"])["accuracy"] for arm, a in evals.items()}
    md = te.report_markdown(p.task, acc, setup)

    def build(dirs):
        (dirs["tail_report"] / "report.md").write_text(md)
        (dirs["tail_report"] / "report.json").write_text(json.dumps(
            {"task": p.task, "accuracy": acc, "goal": te.goal_check(acc), "setup": setup,
             "evals": {arm: a["artifact_id"] for arm, a in evals.items()}}, indent=1, default=str))
        return {"tail_report": {"rows": len(acc), "meta": {"goal": te.goal_check(acc), "task": p.task}}}

    arts, _ = single_stage(ctx, "tail_report", TAIL_EXPERIMENT_CODE_VERSION, {"setup": setup},
                           list(evals.values()), {"tail_report": "folder"}, build)
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(key="tail-experiment", markdown=md, description="TAIL length generalization")
    except Exception as e:  # outside a flow run there is no Prefect context to attach to
        ctx.log.info("no Prefect artifact: %s", e)
    return arts["tail_report"], md


def pretrain_config(p: TailExperimentParams, vocab_size: int) -> PretrainConfig:
    data = PretrainConfig().model_dump()
    for k, v in p.pretrain.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k].update(v)
        else:
            data[k] = v
    data["seed"] = p.seed
    data["model"]["vocab_size"] = vocab_size
    return PretrainConfig(**data)


@flow(name="tail-experiment", log_prints=True)
def tail_experiment_flow(params: TailExperimentParams) -> dict:
    """Reproduce TAIL's length generalization: train each format on S, test S / M / L with the exact verifier."""
    t0 = time.perf_counter()
    with open_run("tail-experiment", params) as ctx:
        data = {arm: train_data_stage(ctx, params, arm) for arm in params.arms}
        prompts = eval_prompts_stage(ctx, params, list(data.values()))
        tok = tokenizer_stage(ctx, params, list(data.values()))
        vocab = int(json.loads(tok["meta_json"])["vocab_size"])
        cfg = pretrain_config(params, vocab)

        def train(shards: dict, config: PretrainConfig, init: dict | None) -> dict:
            if params.trainer == "deepspeed":
                return ctx.manifest.resolve_artifact(pretrain_stage(ctx, shards, tok, config, init=init)["artifact"])
            return torch_train_stage(ctx, config, shards, tok, init=init, model_opts=model_opts)

        model_opts = {"position": params.position, "abacus": params.abacus,
                      "abacus_offset_max": params.abacus_offset_max, "random_gap_max": params.random_gap_max}
        if params.abacus_direction != "ltr" or params.input_injection:  # new keys only when used: old caches hold
            model_opts |= {"abacus_direction": params.abacus_direction, "input_injection": params.input_injection}
        if params.abacus and params.abacus_direction != "ltr":
            from s1data.tokenizer import load_tokenizer
            from s1model import tail_experiment as te

            model_opts["abacus_sep_id"] = te.abacus_separator_id(
                load_tokenizer(_local(tok)), _pq(prompts, "prompts.parquet").column("prompt").to_pylist()[::10])

        warm = None
        if params.warmup_steps:  # one task-free checkpoint shared by every arm
            w = params.warmup_steps
            wcfg = cfg.model_copy(update={"max_steps": w, "warmup_steps": min(cfg.warmup_steps, max(1, w // 10))})
            warm = train(warmup_shards_stage(ctx, params, tok, w * cfg.micro_batch_size * cfg.seq_len, cfg.seq_len),
                         wcfg, None)
        evals, lineage = {}, {}
        for arm in params.arms:
            shards = shards_stage(ctx, params, data[arm], tok, arm, cfg.seq_len)
            ckpt = train(shards, cfg, warm)
            evals[arm] = eval_stage(ctx, params, arm, ckpt, prompts, tok)
            lineage[arm] = {"train_data": data[arm]["artifact_id"], "token_shards": shards["artifact_id"],
                            "checkpoint": ckpt["artifact_id"], "eval": evals[arm]["artifact_id"],
                            "warmup_checkpoint": warm["artifact_id"] if warm else None}
        m = cfg.model
        setup = {"trainer": params.trainer, "model": f"D={m.hidden_size} L={m.num_layers} heads={m.num_heads}x"
                 f"{m.head_dim} kv={m.num_kv_heads} E={m.num_experts} K={m.top_k} F={m.moe_intermediate_size}",
                 "train_tokens_per_arm": cfg.max_steps * cfg.micro_batch_size * cfg.seq_len,
                 "steps": cfg.max_steps, "seq_len": cfg.seq_len, "seed": params.seed, "eval_seed": params.eval_seed,
                 "train_examples": params.train_examples, "eval_per_bucket": params.eval_per_bucket,
                 "warmup_steps": params.warmup_steps, "generic_mix": params.generic_mix,
                 "position": params.position, "abacus": params.abacus,
                 "abacus_direction": params.abacus_direction, "input_injection": params.input_injection}
        report, md = report_stage(ctx, params, evals, setup)
        ctx.log.info("tail experiment:\n%s", md)
        return {"run_id": ctx.run_id, "report": report["artifact_id"], "report_uri": report["uri"],
                "lineage": lineage, "tokenizer": tok["artifact_id"], "eval_prompts": prompts["artifact_id"],
                "seconds": time.perf_counter() - t0}
