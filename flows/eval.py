"""Evaluation stage: checkpoint (+ tokenizer, held-out bootcamp prompts, token shards) -> eval_report.

    s1 run eval --set checkpoint=rl_checkpoint            (any HF checkpoint artifact: cpt_checkpoint, offline_rl, ...)

The report (s1model.eval): per task and per (task, length bucket) avg@k / pass@1 / pass@k / greedy pass rate of the
held-out prompts scored by their verifiers, per-domain perplexity of token shards (the report says whether those
shards are in the checkpoint's lineage, i.e. were trained on), and an optional OpenAI-compatible judge. The
`eval_report` artifact has lineage to the checkpoint, the tokenizer, the prompts and the shards; it is also published
as a Prefect Markdown artifact and its headline numbers as metrics.
"""

from __future__ import annotations

import json
import time

from prefect import flow
from pydantic import Field

from flows.context import RunContext, RunParams, open_run, overrides_of, single_stage
from s1model.eval import EvalConfig

EVAL_CODE_VERSION = "eval-1"


def _tokenizer_of(ctx: RunContext, checkpoint: dict, tokenizer: str | None) -> dict:
    """The named tokenizer artifact, else the tokenizer in the checkpoint's lineage."""
    if tokenizer:
        return ctx.manifest.resolve_artifact(tokenizer)
    found = [a for a in ctx.manifest.ancestors(checkpoint["artifact_id"]) if a["name"] == "tokenizer"]
    if not found:
        raise ValueError(f"{checkpoint['name']}:{checkpoint['version']} has no tokenizer in its lineage; pass "
                         "--set tokenizer=tokenizer:N")
    return found[0]


def eval_stage(ctx: RunContext, checkpoint: dict, tokenizer: dict, prompts: dict | None, shards: dict | None,
               config: EvalConfig) -> dict:
    from flows.pretrain import hf_dir
    from flows.tokens import shard_paths
    from s1model.eval import evaluate, report_markdown
    from storage import local_copy, loc, read_parquet

    t0 = time.perf_counter()
    parents = [p for p in (checkpoint, tokenizer, prompts, shards) if p is not None]
    ancestors = {a["artifact_id"] for a in ctx.manifest.ancestors(checkpoint["artifact_id"])}
    shards_trained_on = shards is not None and shards["artifact_id"] in ancestors
    prompts_trained_on = prompts is not None and prompts["artifact_id"] in ancestors
    if shards_trained_on:
        ctx.log.warning("token_shards:%s is in %s:%s's lineage: its perplexity is on training data, not held out",
                        shards["version"], checkpoint["name"], checkpoint["version"])

    def build(dirs: dict) -> dict:
        out = dirs["eval_report"]
        table = read_parquet(loc(prompts["uri"]) / "prompts.parquet") if prompts is not None else None
        if table is not None and table.num_rows == 0:
            ctx.log.warning("%s:%s holds no prompt (bootcamp train_buckets unset?): no verifier scores",
                            prompts["name"], prompts["version"])
            table = None
        report = evaluate(config, hf_dir(checkpoint), str(local_copy(tokenizer["uri"])), table,
                          shard_paths(shards) if shards is not None else [], str(out))
        report["lineage"] = {
            "checkpoint": f"{checkpoint['name']}:{checkpoint['version']}",
            "checkpoint_sha256": checkpoint["content_sha256"],
            "tokenizer": f"{tokenizer['name']}:{tokenizer['version']}",
            "prompts": f"{prompts['name']}:{prompts['version']}" if prompts else None,
            "prompts_in_training_lineage": prompts_trained_on,
            "shards": f"{shards['name']}:{shards['version']}" if shards else None,
            "shards_in_training_lineage": shards_trained_on}
        (out / "report.json").write_text(json.dumps(report, indent=2))
        (out / "report.md").write_text(report_markdown(report, f"eval of {report['lineage']['checkpoint']}"))
        overall = report.get("overall") or {}
        meta = {"overall": overall, "per_task": report["per_task"], "perplexity": report["perplexity"],
                "judge": report["judge"], "lineage": report["lineage"]}
        metrics = [(f"eval.{k.replace('@', '_at_')}", 0, float(v)) for k, v in overall.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)]
        metrics += [(f"eval.ppl.{r['domain']}", 0, float(r["perplexity"])) for r in report["perplexity"]]
        return {"eval_report": {"rows": report["samples"], "meta": meta, "metrics": metrics}}

    arts, cached = single_stage(ctx, "eval", EVAL_CODE_VERSION, config, parents, {"eval_report": "json"}, build)
    a = arts["eval_report"]
    meta = json.loads(a["meta_json"] or "{}")
    _publish(a, meta, cached)
    return {**meta, "cached": cached, "seconds": time.perf_counter() - t0, "artifact": f"eval_report:{a['version']}"}


def _publish(art: dict, meta: dict, cached: bool) -> None:
    """The report as a Prefect Markdown artifact (inside a flow run; the manifest row is the record)."""
    try:
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is None:
            return
        from prefect.artifacts import create_markdown_artifact

        from storage import loc

        md = (loc(art["uri"]) / "report.md").read_text()
        create_markdown_artifact(key=f"eval-report-{art['version']}", markdown=md + (
            f"\n\nartifact `eval_report:{art['version']}` (id {art['artifact_id']})" + (" — cached" if cached else "")),
            description="s1 eval report")
    except Exception:  # best effort: the view, not the record
        pass


class EvalFlowParams(RunParams):
    checkpoint: str = Field("rl_checkpoint", description="HF checkpoint artifact to evaluate (rl_checkpoint, "
                                                         "offline_rl, cpt_checkpoint, name:version or id).")
    tokenizer: str | None = Field(None, description="Tokenizer artifact; None: the one in the checkpoint's lineage.")
    prompts: str | None = Field("bootcamp_eval", description="Held-out prompt artifact (prompts.parquet), e.g. "
                                "bootcamp_eval; None: no verifier scores.")
    shards: str | None = Field("token_shards", description="Token shards artifact for per-domain perplexity; None: "
                               "none. The report flags shards that are in the checkpoint's lineage.")
    eval: overrides_of(EvalConfig) = Field(default_factory=dict, description="EvalConfig fields (k, temperature, "
                                           "max_prompts, judge_url, ...).")


def resolve_optional(ctx: RunContext, ref: str | None) -> dict | None:
    if not ref:
        return None
    try:
        return ctx.manifest.resolve_artifact(ref)
    except Exception as e:
        ctx.log.warning("no artifact %s (%s): left out of the evaluation", ref, e)
        return None


@flow(name="eval", log_prints=True)
def eval_flow(params: EvalFlowParams) -> dict:
    """Held-out bootcamp prompts scored by their verifiers (avg@k, pass@k per task and length bucket), per-domain
    perplexity, optional LLM judge: an eval_report artifact with lineage to the checkpoint and the data."""
    with open_run("eval", params) as ctx:
        ckpt = ctx.manifest.resolve_artifact(params.checkpoint)
        out = eval_stage(ctx, ckpt, _tokenizer_of(ctx, ckpt, params.tokenizer),
                         resolve_optional(ctx, params.prompts), resolve_optional(ctx, params.shards),
                         EvalConfig(**params.eval))
        return {"run_id": ctx.run_id, "eval": out}
