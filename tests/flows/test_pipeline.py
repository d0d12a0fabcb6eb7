"""The whole DAG through the pipeline flow, as `s1 demo` runs it: real Prefect, Dask, DuckDB, DeepSpeed, Ray."""

from pathlib import Path

import polars as pl

from flows.pipeline import PipelineParams, demo_params, pipeline_flow
from s1data.parts import list_parquet
from storage import file_sha256, open_storage

STAGES = ["pdf", "web", "bootcamp", "curate", "tokenizer", "token_shards", "pretrain", "offline_rl", "online_rl",
          "eval"]


def test_the_demo_pipeline_goes_from_pdfs_and_warcs_to_an_rl_checkpoint_and_reruns_from_cache(home, shared_data):
    params = PipelineParams(**demo_params(str(home)))
    first = pipeline_flow(params)
    assert all(not first[s]["cached"] for s in STAGES)
    assert first["pdf"]["pages"] == 12 and first["web"]["quarantined"] > 0
    assert first["curate"]["kept"] >= 4 and first["token_shards"]["tokens"] > 0
    assert first["pretrain"]["final_step"] == 12

    root, m = open_storage(home)
    rl = m.resolve_artifact("rl_checkpoint")
    assert (Path(rl["uri"]) / "config.json").exists() and (Path(rl["uri"]) / "tokenizer.json").exists()
    ancestors = m.ancestors(rl["artifact_id"])
    names = {a["name"] for a in ancestors}
    assert {"offline_rl", "cpt_checkpoint", "token_shards", "tokenizer", "curated", "documents", "web_pages",
            "pdf_pages", "source_pdf", "source_warc", "rl_prompts"} <= names
    pdf_sources = {a["uri"]: a["content_sha256"] for a in ancestors if a["name"] == "source_pdf"}
    assert pdf_sources == {str(p.resolve()): file_sha256(p) for p in (shared_data / "pdf").glob("*.pdf")}

    losses = m.query("SELECT step, value FROM metrics WHERE name = 'train.loss' ORDER BY step")
    assert [r["step"] for r in losses] == list(range(1, 13))
    assert losses[-1]["value"] < losses[0]["value"]
    assert m.query("SELECT count(*) AS n FROM metrics WHERE name LIKE 'train.expert_load.%'")[0]["n"] > 0
    assert m.query("SELECT count(*) AS n FROM metrics WHERE name LIKE 'rl.%'")[0]["n"] > 0
    # the dashboard's training and RL figures read the metrics this real run recorded
    from dashboards import figures as F
    from dashboards import queries as Q

    curves = F.training_curves(Q.train_series(m))
    assert any(list(t["x"]) == list(range(1, 13)) and list(t["y"]) == [r["value"] for r in losses]
               for t in curves["train-loss"]["data"])
    heat = F.expert_heatmap(Q.expert_load_latest(m))
    assert heat is not None and heat["data"][0]["z"] and all(v is not None for row in heat["data"][0]["z"] for v in row)
    rewards = F.reward_curves(Q.series(m, "rl.reward."))
    assert rewards is not None and {t["name"] for t in rewards["data"]}
    ds_ckpts = m.query("SELECT meta_json FROM artifacts WHERE name = 'cpt_checkpoint' AND kind = 'deepspeed'")
    assert len(ds_ckpts) == 2  # every 6 of 12 steps

    reasons = {r["reason"] for r in m.query("SELECT DISTINCT reason FROM quarantine")}
    assert {"warc_truncated", "warc_not_html"} <= reasons
    curated = pl.read_parquet(list_parquet(m.resolve_artifact("curated")["uri"])[0])
    assert {"domain", "subdomain", "science_score"} <= set(curated.columns)

    again = pipeline_flow(params)
    assert all(again[s]["cached"] for s in STAGES)
    statuses = m.query("SELECT DISTINCT status FROM stage_runs WHERE run_id = ? AND parent_stage_run_id IS NULL",
                       [again["run_id"]])
    assert [r["status"] for r in statuses] == ["cached"]

    # online RL on its own takes the offline_rl artifact's prompts; when its difficulty filter kept none (the tiny
    # demo model solves almost nothing), the unfiltered rl_prompts it read, as the pipeline does
    import json

    from flows.rl import OnlineRLFlowParams, online_rl_flow

    offline = m.resolve_artifact("offline_rl")
    kept = json.loads(offline["meta_json"])["counts"]["kept"]
    out = online_rl_flow(OnlineRLFlowParams(home=str(home), online={"steps": 1}))["online_rl"]
    run = m.resolve_artifact(out["artifact"])
    parents = {a["name"]: a for a in m.ancestors(run["artifact_id"]) if a["depth"] == 1}
    expected = offline if kept else m.resolve_artifact("rl_prompts")
    assert parents[expected["name"]]["artifact_id"] == expected["artifact_id"]
