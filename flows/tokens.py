"""Tokenizer and token-shard stages: curated -> tokenizer -> token_shards.

    curated -> tokenizer (one step)
    curated rows, cut into partitions of `partition_docs` -> one Dask task each (tokenize, mix, pack, write), each
    committed as a token_shards_partition as soon as it is back (cached ones skipped) -> token_shards (the partition
    files hard-linked into one folder)

The tokenizer is trained on the curated corpus (or extends a user's tokenizer.json); shards are fixed-length packed
rows with document boundaries, written with the tokenizer's fingerprint in their metadata.
"""

from __future__ import annotations

import json
import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.context import (RunContext, RunParams, StageProgress, commit_partition, open_run, single_stage,
                           split_cached_partitions)
from s1data.shards import SHARDS_CODE_VERSION, ShardConfig
from s1data.tokenizer import TOKENIZER_CODE_VERSION, TokenizerConfig, tokenizer_fingerprint
from storage import fingerprint, link_or_copy, loc, local_copy  # link_or_copy: also flows.pretrain's


def tokenizer_stage(ctx: RunContext, curated: dict, config: TokenizerConfig, base_tokenizer: str | None,
                    extra_texts: list[str] | None = None, dask_address: str | None = None,
                    n_workers: int | None = None) -> dict:
    """Train the dynamic tokenizer on the curated texts (+ extra texts, e.g. bootcamp traces), in the flow process
    with as many trainer threads as the cluster's workers on this host (`driver_threads`): the cluster waits for the
    tokenizer, and the trained tokenizer is the same at any thread count."""
    from flows.engines import driver_threads
    from s1data.tokenizer import train_tokenizer

    t0 = time.perf_counter()
    params = {"config": config.model_dump(mode="json"), "base": base_tokenizer,
              "extra_texts": len(extra_texts or [])}

    def build(dirs):
        from itertools import chain

        from s1data.tokenizer.sample import iter_sample_texts

        # a bounded, deterministic sample streamed from the curated partitions into the trainer (neither the corpus
        # nor the sample's text is ever held in one list)
        texts = chain(iter_sample_texts(str(loc(curated["uri"])), config.max_training_texts or 2**62,
                                        config.max_training_chars, config.sample_seed), extra_texts or [])
        info = train_tokenizer(texts, dirs["tokenizer"], config, base_tokenizer=base_tokenizer,
                               threads=driver_threads(dask_address, n_workers))
        return {"tokenizer": {"meta": info}}

    arts, cached = single_stage(ctx, "tokenizer", TOKENIZER_CODE_VERSION, params, [curated],
                                {"tokenizer": "folder"}, build)
    meta = json.loads(arts["tokenizer"]["meta_json"])
    return {"vocab_size": meta.get("vocab_size"), "vocab_sizes": meta.get("vocab_sizes"), "cached": cached,
            "seconds": time.perf_counter() - t0, "artifact": f"tokenizer:{arts['tokenizer']['version']}"}


def shard_partition_fingerprint(curated: dict, tokenizer: dict, config: ShardConfig, seed: int, part: dict) -> str:
    """What one partition's shards depend on: its rows of the curated file, the tokenizer, packing and mixture."""
    return fingerprint("token_shards.partition", SHARDS_CODE_VERSION,
                       {"config": config.cache_params(), "seed": seed, "partition": part},
                       [curated["content_sha256"] or curated["fingerprint"],
                        tokenizer["content_sha256"] or tokenizer["fingerprint"]])


@task(cache_policy=NO_CACHE)
def write_shard_partitions(ctx: RunContext, stage_run_id: str, curated: dict, tokenizer: dict, parts: list[dict],
                           pfps: dict[str, str], config: ShardConfig, seed: int, dask_address: str | None,
                           n_workers: int | None) -> dict:
    """Write every uncached partition (one Dask task each; a lone partition runs here) and commit each as soon as
    it is back. Returns {partitions: {key: committed partition artifact}, cached_partitions, written_partitions}."""
    from s1data.shards.writer import write_partition_at  # a library function: workers never import flows/

    docs_path = str(loc(curated["uri"]))  # the curated dataset: a folder of parquet parts
    sources = [{"sha256": p["key"], **p} for p in parts]
    partitions, todo = split_cached_partitions(ctx, "token_shards_partition", "token_shards.partition",
                                               stage_run_id, sources, lambda key: pfps[key])
    progress = StageProgress("token shard partitions written", len(todo))

    def commit(f: dict, res: dict) -> None:
        meta = {k: v for k, v in res.items() if k != "out_dir"}
        meta.update(start=f["start"], stop=f["stop"], seq_len=config.seq_len)
        partitions[f["key"]] = commit_partition(
            ctx, name="token_shards_partition", stage="token_shards.partition", fingerprint=f["pfp"],
            out_dir=res["out_dir"], parent_stage_run_id=stage_run_id, partition_key=f["key"],
            source_id=curated["artifact_id"], extra_parents=(tokenizer["artifact_id"],), rows=res["rows"],
            tokens=res["tokens"], meta={k: v for k, v in meta.items() if k not in ("files", "content_sha256")},
            quarantine=[], seconds=res["seconds"], expect=res.get("files"), content_sha256=res.get("content_sha256"))
        progress.advance()

    def args(f: dict) -> tuple:
        part = {k: f[k] for k in ("index", "key", "start", "stop", "max_tokens")}
        return (docs_path, part, tokenizer["uri"],
                str(ctx.root.partition_staging("token_shards_partition", f["pfp"])), config, seed)

    if len(todo) == 1 and dask_address is None:  # nothing to spread: no cluster to start
        commit(todo[0], write_partition_at(*args(todo[0])))
    elif todo:
        from flows.engines import as_completed_on, dask_client

        with dask_client(dask_address, n_workers) as client:
            futures = {client.submit(write_partition_at, *args(f), pure=False): f for f in todo}
            for fut in as_completed_on(client, futures):
                commit(futures[fut], fut.result())
    return {"partitions": partitions, "cached_partitions": len(parts) - len(todo), "written_partitions": len(todo)}


def shards_stage(ctx: RunContext, curated: dict, tokenizer: dict, config: ShardConfig, seed: int,
                 dask_address: str | None = None, n_workers: int | None = None) -> dict:
    """Pack curated documents into fixed-length token shards, one Dask task per partition of `partition_docs`."""
    from s1data.shards import plan_partitions

    t0 = time.perf_counter()
    parts = plan_partitions(str(loc(curated["uri"])), config)
    pfps = {p["key"]: shard_partition_fingerprint(curated, tokenizer, config, seed, p) for p in parts}
    expected = fingerprint("token_shards", SHARDS_CODE_VERSION, {}, [pfps[p["key"]] for p in parts])
    with ctx.stage("token_shards", expected, ["token_shards"]) as stage:
        if stage.cached:
            ctx.manifest.record_cached_stages(ctx.run_id, "token_shards.partition", stage.stage_run_id,
                                              [(p["key"], pfps[p["key"]]) for p in parts])
            cached_partitions = len(parts)
        else:
            done = write_shard_partitions(ctx, stage.stage_run_id, curated, tokenizer, parts, pfps, config, seed,
                                          dask_address, n_workers)
            ordered = [done["partitions"][p["key"]] for p in parts]
            cached_partitions = done["cached_partitions"]
            staging = ctx.root.staging("token_shards", stage.fingerprint)  # local tmp/ or a prefix on the store
            metas = [json.loads(a["meta_json"]) for a in ordered]
            shards = []
            for a, meta in zip(ordered, metas):
                for s in meta["shards"]:
                    link_or_copy(loc(a["uri"]) / s["path"], staging / s["path"])
                    shards.append(s)
            reasons: dict[str, int] = {}
            for meta in metas:
                for r, n in meta["exclusion_reasons"].items():
                    reasons[r] = reasons.get(r, 0) + n
            tokens = sum(m["tokens"] for m in metas)
            summary = {"shards": shards, "exclusions": [e for m in metas for e in m["exclusions"]][:1000],
                       "excluded_docs": sum(m["excluded_docs"] for m in metas), "exclusion_reasons": reasons,
                       "docs": sum(m["docs"] for m in metas), "partitions": len(parts), "seq_len": config.seq_len,
                       "seed": seed, "tokenizer_fingerprint": tokenizer_fingerprint(local_copy(tokenizer["uri"]))}
            stage.commit(staging, "token_shards", "parquet",
                         [curated["artifact_id"], tokenizer["artifact_id"], *(a["artifact_id"] for a in ordered)],
                         rows=sum(m["rows"] for m in metas), tokens=tokens, meta=summary)
        a = stage.artifacts["token_shards"]
    meta = json.loads(a["meta_json"])
    return {"shards": len(meta["shards"]), "rows": a["rows"], "tokens": a["tokens"],
            "excluded_docs": meta["excluded_docs"], "partitions": len(parts), "cached": stage.cached,
            "cached_partitions": cached_partitions, "seconds": time.perf_counter() - t0,
            "artifact": f"token_shards:{a['version']}"}


def shard_paths(art: dict) -> list[str]:
    """The shard files of a token_shards artifact as local paths (downloaded once from an object store)."""
    return sorted(str(p) for p in local_copy(art["uri"]).glob("*.parquet"))


class TokenizeFlowParams(RunParams):
    curated: str = Field("curated", description="Curated artifact (name, name:version or id).")
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig, description="Tokenizer training.")
    base_tokenizer: str | None = Field(None, description="Extend this tokenizer.json instead of training from zero.")
    shards: ShardConfig = Field(default_factory=ShardConfig, description="Packing and mixture.")
    seed: int = Field(0, description="Seed of the mixture sampling.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster.")


@flow(name="tokenize", log_prints=True)
def tokenize_flow(params: TokenizeFlowParams) -> dict:
    """Train the dynamic tokenizer and write token shards."""
    with open_run("tokenize", params) as ctx:
        curated = ctx.manifest.resolve_artifact(params.curated)
        tok = tokenizer_stage(ctx, curated, params.tokenizer, params.base_tokenizer, dask_address=params.dask_address,
                              n_workers=params.n_workers)
        tok_art = ctx.manifest.resolve_artifact(tok["artifact"])
        shards = shards_stage(ctx, curated, tok_art, params.shards, params.seed, params.dask_address,
                              params.n_workers)
        return {"run_id": ctx.run_id, "tokenizer": tok, "token_shards": shards}
