"""Tokenizer and token-shard stages: curated -> tokenizer -> token_shards.

The tokenizer is trained on the curated corpus (or extends a user's tokenizer.json); shards are fixed-length packed
rows with document boundaries, written with the tokenizer's fingerprint in their metadata.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from prefect import flow
from pydantic import Field

from flows.context import RunContext, RunParams, open_run, single_stage
from s1data.shards import SHARDS_CODE_VERSION, ShardConfig
from s1data.tokenizer import TOKENIZER_CODE_VERSION, TokenizerConfig


def _curated_table(art: dict):
    import pyarrow.parquet as pq

    return pq.read_table(Path(art["uri"]) / "curated.parquet")


def tokenizer_stage(ctx: RunContext, curated: dict, config: TokenizerConfig, base_tokenizer: str | None,
                    extra_texts: list[str] | None = None) -> dict:
    """Train the dynamic tokenizer on the curated texts (+ extra texts, e.g. bootcamp traces)."""
    from s1data.tokenizer import train_tokenizer

    t0 = time.perf_counter()
    params = {"config": config.model_dump(mode="json"), "base": base_tokenizer,
              "extra_texts": len(extra_texts or [])}

    def build(dirs):
        texts = _curated_table(curated).column("text").to_pylist() + list(extra_texts or [])
        info = train_tokenizer(texts, dirs["tokenizer"], config, base_tokenizer=base_tokenizer)
        return {"tokenizer": {"meta": info}}

    arts, cached = single_stage(ctx, "tokenizer", TOKENIZER_CODE_VERSION, params, [curated],
                                {"tokenizer": "folder"}, build)
    meta = json.loads(arts["tokenizer"]["meta_json"])
    return {"vocab_size": meta.get("vocab_size"), "vocab_sizes": meta.get("vocab_sizes"), "cached": cached,
            "seconds": time.perf_counter() - t0, "artifact": f"tokenizer:{arts['tokenizer']['version']}"}


def shards_stage(ctx: RunContext, curated: dict, tokenizer: dict, config: ShardConfig, seed: int) -> dict:
    """Pack curated documents into fixed-length token shards."""
    from s1data.shards import TokenShardWriter

    t0 = time.perf_counter()

    def build(dirs):
        import pyarrow as pa

        docs = _curated_table(curated)
        if "domain" not in docs.column_names:
            docs = docs.append_column("domain", pa.nulls(docs.num_rows, pa.string()))
        writer = TokenShardWriter(tokenizer["uri"], dirs["token_shards"], config, seed)
        shards = writer.write(docs.select(["doc_id", "text", "domain", "source_kind"]))
        tokens = sum(s["tokens"] for s in shards)
        meta = {"shards": [{k: (Path(v).name if k == "path" else v) for k, v in s.items()} for s in shards],
                "exclusions": writer.exclusions[:1000], "excluded_docs": len(writer.exclusions),
                "seq_len": config.seq_len, "seed": seed}
        return {"token_shards": {"rows": sum(s["rows"] for s in shards), "tokens": tokens, "meta": meta}}

    params = {"config": config.model_dump(mode="json"), "seed": seed}
    arts, cached = single_stage(ctx, "token_shards", SHARDS_CODE_VERSION, params, [curated, tokenizer],
                                {"token_shards": "parquet"}, build)
    a = arts["token_shards"]
    meta = json.loads(a["meta_json"])
    return {"shards": len(meta["shards"]), "rows": a["rows"], "tokens": a["tokens"],
            "excluded_docs": meta["excluded_docs"], "cached": cached, "seconds": time.perf_counter() - t0,
            "artifact": f"token_shards:{a['version']}"}


def shard_paths(art: dict) -> list[str]:
    return sorted(str(p) for p in Path(art["uri"]).glob("*.parquet"))


class TokenizeFlowParams(RunParams):
    curated: str = Field("curated", description="Curated artifact (name, name:version or id).")
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig, description="Tokenizer training.")
    base_tokenizer: str | None = Field(None, description="Extend this tokenizer.json instead of training from zero.")
    shards: ShardConfig = Field(default_factory=ShardConfig, description="Packing and mixture.")
    seed: int = Field(0, description="Seed of the mixture sampling.")


@flow(name="tokenize", log_prints=True)
def tokenize_flow(params: TokenizeFlowParams) -> dict:
    """Train the dynamic tokenizer and write token shards."""
    with open_run("tokenize", params) as ctx:
        curated = ctx.manifest.resolve_artifact(params.curated)
        tok = tokenizer_stage(ctx, curated, params.tokenizer, params.base_tokenizer)
        tok_art = ctx.manifest.resolve_artifact(tok["artifact"])
        shards = shards_stage(ctx, curated, tok_art, params.shards, params.seed)
        return {"run_id": ctx.run_id, "tokenizer": tok, "token_shards": shards}
