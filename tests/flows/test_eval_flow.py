"""`s1 run eval`: an eval_report artifact with lineage to the checkpoint and the data, the trained-on flag of the
shards, a Prefect Markdown artifact, and a cached rerun."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq

from flows.context import RunParams, open_run, single_stage
from flows.eval import EvalFlowParams, eval_flow
from storage import loc, open_storage
from tests.s1model.conftest import write_shard
from tests.s1model.rl.conftest import (base_model_dir, compare_data, sft_model_dir,  # noqa: F401 (fixtures)
                                       tokenizer_dir)


def _commit(ctx, name: str, parents: list[dict], fill) -> dict:
    arts, _ = single_stage(ctx, f"setup_{name}", "t", {"name": name}, parents, {name: "folder"},
                           lambda dirs: (fill(dirs[name]), {})[1])
    return arts[name]


def test_the_eval_flow_writes_a_report_with_lineage_to_checkpoint_and_data(tmp_path, sft_model_dir, tokenizer_dir,
                                                                          compare_data):
    _, rl = compare_data
    home = str(tmp_path / "home")
    with open_run("setup", RunParams(home=home)) as ctx:
        tok = _commit(ctx, "tokenizer", [], lambda d: shutil.copytree(tokenizer_dir, d, dirs_exist_ok=True))
        shards = _commit(ctx, "token_shards", [tok], lambda d: write_shard(str(d / "part-0.parquet"), 4, 64, 256))
        prompts = _commit(ctx, "bootcamp_eval", [], lambda d: pq.write_table(rl.slice(40, 6), d / "prompts.parquet"))
        # trained on the shards (a lineage parent), not on the held-out prompts
        ckpt = _commit(ctx, "rl_checkpoint", [tok, shards],
                       lambda d: shutil.copytree(sft_model_dir, d, dirs_exist_ok=True))

    params = EvalFlowParams(home=home, eval={"k": 2, "max_new_tokens": 8, "ppl_max_rows": 4})
    out = eval_flow(params)["eval"]
    assert out["artifact"] == "eval_report:1" and not out["cached"]
    _, m = open_storage(home)
    rep = m.resolve_artifact("eval_report")
    names = {a["name"] for a in m.ancestors(rep["artifact_id"])}
    assert {"rl_checkpoint", "tokenizer", "token_shards", "bootcamp_eval"} <= names
    meta = json.loads(rep["meta_json"])
    assert meta["lineage"]["checkpoint"] == f"rl_checkpoint:{ckpt['version']}"
    assert meta["lineage"]["shards_in_training_lineage"] is True
    assert meta["lineage"]["prompts_in_training_lineage"] is False
    assert meta["overall"]["prompts"] == 6 and meta["overall"]["samples"] == 12
    assert [r["domain"] for r in meta["perplexity"]] == ["chemistry"]
    report = json.loads((loc(rep["uri"]) / "report.json").read_text())
    assert report["per_task_length"][0]["task"] == "tail_compare"
    metric_names = {r["name"] for r in m.query("SELECT name FROM metrics WHERE name LIKE 'eval.%'")}
    assert {"eval.pass_at_2", "eval.avg_at_2", "eval.ppl.chemistry"} <= metric_names

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    import anyio

    async def _keys():
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["eval-report-1"])))
            return [a.data for a in arts]

    (md,) = anyio.run(_keys)[:1]
    assert "tail_compare" in md and "eval_report:1" in md

    again = eval_flow(params)["eval"]
    assert again["cached"] and again["artifact"] == "eval_report:1"
