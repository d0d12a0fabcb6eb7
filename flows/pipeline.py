"""The end-to-end pipeline flow (the DAG of ARCHITECTURE.md); `s1 demo` runs it on small real inputs.

    PDFs  -> pdf_pages -> documents --+
                                      +--> curated -> tokenizer -> token_shards -> cpt_checkpoint --+
    WARCs -> web_pages ---------------+                                                             |
    bootcamp tasks -> sft_data / rl_prompts -----------------> offline_rl (best-of-N SFT) <---------+
                                                                   -> online_rl (MoR, Ray) -> rl_checkpoint
                                                                   -> eval (held-out prompts, perplexity) -> eval_report
Every stage is cached by fingerprint, so a rerun redoes only what changed or did not finish.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import Field

from flows.bootcamp import BootcampExportConfig, bootcamp_stage
from flows.context import RunParams, open_run, overrides_of
from flows.curate import CurateConfig, curate_stage
from flows.eval import eval_stage
from flows.pdf import pdf_stage
from flows.pretrain import LaunchConfig, pretrain_config, pretrain_stage
from flows.rl import rl_stages
from flows.tokens import shards_stage, tokenizer_stage
from flows.web import web_stage
from s1data.pdf import PdfConfig
from s1data.shards import ShardConfig
from s1data.tokenizer import TokenizerConfig
from s1data.web import WebConfig
from s1model.config import PretrainConfig
from s1model.eval import EvalConfig
from s1model.rl.config import OfflineRLConfig, OnlineRLConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


class PipelineParams(RunParams):
    pdf_input: list[str] = Field(default_factory=list, description="PDF files, folders or globs.")
    web_input: list[str] = Field(default_factory=list, description="WARC/ARC files, folders or globs.")
    pdf: PdfConfig = Field(default_factory=PdfConfig, description="PDF parser, router and resource settings.")
    web: WebConfig = Field(default_factory=WebConfig, description="WARC reading and extraction.")
    curate: CurateConfig = Field(default_factory=CurateConfig, description="Quality, dedup and science labels.")
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig, description="Dynamic tokenizer training.")
    base_tokenizer: str | None = Field(None, description="Extend this tokenizer.json instead of training anew.")
    shards: ShardConfig = Field(default_factory=ShardConfig, description="Packing and mixture (seq_len is set "
                                                                         "from the pretraining config).")
    bootcamp: BootcampExportConfig = Field(default_factory=BootcampExportConfig, description="Task export.")
    train: bool = Field(True, description="Run continued pretraining after the data stages.")
    recipe: str = Field("tiny", description="Pretraining recipe (tiny, demo, s1_ref).")
    init: str | None = Field(None, description="Hugging Face checkpoint to continue from: a folder or a checkpoint "
                                               "artifact in HF layout (then a lineage parent).")
    pretrain: overrides_of(PretrainConfig) = Field(default_factory=dict,
                                                   description="PretrainConfig fields overriding the recipe.")
    launch: LaunchConfig = Field(default_factory=LaunchConfig, description="Trainer launcher (GPUs, hostfile).")
    rl: bool = Field(True, description="Run offline then online RL on the pretrained checkpoint.")
    rl_recipe: str = Field("tiny", description="RL recipe.")
    offline_rl: overrides_of(OfflineRLConfig) = Field(default_factory=dict,
                                                      description="OfflineRLConfig fields overriding the recipe.")
    online_rl: overrides_of(OnlineRLConfig) = Field(default_factory=dict,
                                                    description="OnlineRLConfig fields overriding the recipe.")
    ray_address: str | None = Field(None, description="Ray cluster address (default: a local Ray).")
    eval: bool = Field(True, description="End with the evaluation of the last checkpoint (eval_report).")
    eval_config: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation settings (k, judge, ...).")
    seed: int = Field(0, description="Seed of mixture sampling.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster.")


def demo_inputs(home: str) -> dict[str, list[str]]:
    """../shared/data when present, else sample PDFs generated into the storage root."""
    out: dict[str, list[str]] = {"pdf": [], "web": []}
    if (SHARED_DATA / "pdf").is_dir():
        out["pdf"] = [str(SHARED_DATA / "pdf")]
    else:
        from s1data.samples import write_sample_pdfs

        d = Path(home) / "samples" / "pdf"
        write_sample_pdfs(d)
        out["pdf"] = [str(d)]
    if (SHARED_DATA / "warc").is_dir():
        out["web"] = [str(SHARED_DATA / "warc")]
    return out


def demo_params(home: str) -> dict:
    """Small real inputs, a small tokenizer, a tiny MoE for a few steps: minutes on 2 CPU cores."""
    inputs = demo_inputs(home)
    return {
        "home": home, "pdf_input": inputs["pdf"], "web_input": inputs["web"], "n_workers": 2,
        "tokenizer": {"vocab_size": 1024, "smiles_vocab_size": 256, "protein_vocab_size": 256, "dna_vocab_size": 256},
        # short direct answers (ring counts 0-3), so the tiny model learns the task in a few SFT steps and the
        # online RL groups have mixed rewards to learn from
        "bootcamp": {"tasks": ["chem_ring_count"], "n_per_config": 1, "max_configs": 64, "style": "direct",
                     # a hashed fifth of the problems is held out for the eval step (bootcamp_eval)
                     "train_buckets": ["S"], "eval_fraction": 0.2},
        "eval_config": {"k": 4, "max_new_tokens": 16, "ppl_max_rows": 16},
        "recipe": "tiny", "pretrain": {"seq_len": 128, "max_steps": 12, "checkpoint_every": 6},
        "offline_rl": {"sft_steps": 40},
    }


@flow(name="pipeline", log_prints=True)
def pipeline_flow(params: PipelineParams) -> dict:
    """PDFs and WARCs to a trained MoE checkpoint; each stage is cached by fingerprint."""
    with open_run("pipeline", params) as ctx:
        out: dict = {"run_id": ctx.run_id}
        m = ctx.manifest
        parents: dict = {"documents": None, "web_pages": None}
        if params.pdf_input:
            out["pdf"] = pdf_stage(ctx, params.pdf_input, params.pdf, params.dask_address, params.n_workers)
            parents["documents"] = m.resolve_artifact(out["pdf"]["artifacts"]["documents"])
        if params.web_input:
            out["web"] = web_stage(ctx, params.web_input, params.web, params.dask_address, params.n_workers)
            parents["web_pages"] = m.resolve_artifact(out["web"]["artifacts"]["web_pages"])
        # open-ended prompts (bootcamp.open_ended.curated set) are drawn from this run's curated documents, so the
        # bootcamp stage then runs after curation; otherwise it does not depend on the corpus and runs first
        open_ended = bool(params.bootcamp.open_ended.curated)
        if not (params.pdf_input or params.web_input):
            named = m.resolve_artifact(params.bootcamp.open_ended.curated) if open_ended else None
            out["bootcamp"] = bootcamp_stage(ctx, params.bootcamp, named)
            return out
        if not open_ended:
            out["bootcamp"] = bootcamp_stage(ctx, params.bootcamp)
        out["curate"] = curate_stage(ctx, parents, params.curate, params.dask_address, params.n_workers)
        curated = m.resolve_artifact(out["curate"]["artifacts"]["curated"])
        if open_ended:
            out["bootcamp"] = bootcamp_stage(ctx, params.bootcamp, curated)
        sft = m.resolve_artifact(out["bootcamp"]["artifacts"]["sft_data"])
        from storage import loc, read_parquet

        traces = read_parquet(loc(sft["uri"]) / "sft.parquet", columns=["prompt", "response"])
        extra = [p + "\n" + r for p, r in zip(traces.column("prompt").to_pylist(), traces.column("response").to_pylist())]
        out["tokenizer"] = tokenizer_stage(ctx, curated, params.tokenizer, params.base_tokenizer, extra,
                                           params.dask_address, params.n_workers)
        tok = m.resolve_artifact(out["tokenizer"]["artifact"])
        config, init = pretrain_config(ctx, params.recipe, params.init, params.pretrain)
        shard_cfg = params.shards.model_copy(update={"seq_len": config.seq_len})
        out["token_shards"] = shards_stage(ctx, curated, tok, shard_cfg, params.seed, params.dask_address,
                                            params.n_workers)
        if params.train:
            shards = m.resolve_artifact(out["token_shards"]["artifact"])
            out["pretrain"] = pretrain_stage(ctx, shards, tok, config, params.launch, init=init)
            if params.rl:
                cpt = m.resolve_artifact(out["pretrain"]["artifact"])
                out.update(rl_stages(ctx, cpt, tok, m.resolve_artifact(out["bootcamp"]["artifacts"]["rl_prompts"]),
                                     sft, params.rl_recipe, params.offline_rl, params.online_rl, False,
                                     params.ray_address))
            if params.eval:  # the last checkpoint on the held-out bootcamp prompts and the token shards
                last = out["online_rl"]["artifact"] if params.rl else out["pretrain"]["artifact"]
                out["eval"] = eval_stage(ctx, m.resolve_artifact(last), tok,
                                         m.resolve_artifact(out["bootcamp"]["artifacts"]["bootcamp_eval"]),
                                         m.resolve_artifact(out["token_shards"]["artifact"]), params.eval_config)
        return out
