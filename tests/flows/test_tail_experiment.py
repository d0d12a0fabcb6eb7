"""The TAIL experiment flow at CPU size: two arms, a tiny model, a few steps, three prompts per bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.tail_experiment import TailExperimentParams, tail_experiment_flow
from s1data.bootcamp import verify
from storage import open_storage

TINY = {"model": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1, "head_dim": 16,
                  "num_experts": 2, "top_k": 1, "moe_intermediate_size": 32, "max_position_embeddings": 1024},
        "seq_len": 256, "micro_batch_size": 2, "max_steps": 3, "lr": 3e-3, "warmup_steps": 1,
        "checkpoint_every": 0, "expert_parallel": "none", "zero_stage": 0, "dtype": "fp32"}


def test_tail_experiment_records_report_evals_and_lineage_with_verifier_accuracies(home):
    params = TailExperimentParams(home=str(home), arms=["tail", "direct"], train_examples=40, eval_per_bucket=3,
                                  vocab_size=400, trainer="deepspeed", pretrain=TINY, max_new_tokens_cap=24)
    out = tail_experiment_flow(params)

    _, manifest = open_storage(str(home), read_only=True)
    report = manifest.resolve_artifact(out["report"])
    assert report["name"] == "tail_report"
    md = (Path(report["uri"]) / "report.md").read_text()
    assert "| TAIL-CoT |" in md and "| direct answer |" in md and "97.0 | 92.5 | 86.5" in md
    data = json.loads((Path(report["uri"]) / "report.json").read_text())
    assert set(data["accuracy"]) == {"tail", "direct"}

    prompts = pq.read_table(Path(manifest.resolve_artifact(out["eval_prompts"])["uri"]) / "prompts.parquet")
    assert prompts.column("length_bucket").to_pylist().count("M") == 3
    for arm, ids in out["lineage"].items():
        train = pq.read_table(Path(manifest.resolve_artifact(ids["train_data"])["uri"]) / "sft.parquet")
        assert set(train.column("length_bucket").to_pylist()) == {"S"}
        assert not set(train.column("sample_id").to_pylist()) & set(prompts.column("sample_id").to_pylist())
        ancestors = {a["artifact_id"] for a in manifest.ancestors(ids["eval"])}
        assert {ids["checkpoint"], ids["token_shards"], ids["train_data"], out["tokenizer"],
                out["eval_prompts"]} <= ancestors
        ckpt = manifest.resolve_artifact(ids["checkpoint"])
        assert ckpt["name"] == "cpt_checkpoint" and (Path(ckpt["uri"]) / "config.json").exists()
        assert report["artifact_id"] in {r["artifact_id"] for r in manifest.query(
            "SELECT child_id AS artifact_id FROM lineage_edges WHERE parent_id = ?", [ids["eval"]])}

        # accuracies are the verifier's scores of the stored outputs, per bucket
        ev = manifest.resolve_artifact(ids["eval"])
        rows = pq.read_table(Path(ev["uri"]) / "outputs.parquet").to_pylist()
        ident = dict(zip(prompts.column("sample_id").to_pylist(), prompts.column("identity_json").to_pylist()))
        for b in ("S", "M", "L"):
            scores = [verify("tail_addition", ident[r["sample_id"]], r["output"]) for r in rows
                      if r["length_bucket"] == b]
            assert len(scores) == 3
            assert data["accuracy"][arm][b]["accuracy"] == 100.0 * sum(scores) / 3
        assert all(r["reason"].startswith("bootcamp_") for r in rows)
        metrics = manifest.query("SELECT name, value FROM metrics WHERE artifact_id = ?", [ids["eval"]])
        assert {m["name"] for m in metrics} == {f"tail.{arm}.accuracy.{b}" for b in ("S", "M", "L")}


def test_warm_up_checkpoint_is_shared_by_every_arm_and_replay_is_in_their_shards(home):
    params = TailExperimentParams(home=str(home), arms=["tail", "direct"], train_examples=30, eval_per_bucket=1,
                                  vocab_size=400, trainer="deepspeed", pretrain=TINY, max_new_tokens_cap=8,
                                  warmup_steps=2, generic_mix=0.25)
    out = tail_experiment_flow(params)

    _, manifest = open_storage(str(home), read_only=True)
    warm_ids = {ids["warmup_checkpoint"] for ids in out["lineage"].values()}
    assert len(warm_ids) == 1 and None not in warm_ids
    warm = manifest.resolve_artifact(warm_ids.pop())
    assert warm["name"] == "cpt_checkpoint" and json.loads(warm["meta_json"])["final_step"] == 2
    warm_parents = {a["name"] for a in manifest.ancestors(warm["artifact_id"])}
    assert "tail_train_data" in warm_parents  # through the tokenizer, never through an arm's shards
    assert not {a["artifact_id"] for a in manifest.ancestors(warm["artifact_id"])} & {
        ids["token_shards"] for ids in out["lineage"].values()}
    for arm, ids in out["lineage"].items():
        assert warm["artifact_id"] in {a["artifact_id"] for a in manifest.ancestors(ids["checkpoint"])}
        shards = manifest.resolve_artifact(ids["token_shards"])
        doc_ids = [d for f in sorted(Path(shards["uri"]).glob("*.parquet"))
                   for row in pq.read_table(f, columns=["doc_ids"]).column("doc_ids").to_pylist() for d in row]
        generic = [d for d in doc_ids if d.startswith("generic:")]
        assert generic and len(generic) < len(doc_ids)
        assert any(d.startswith(f"{arm}:") for d in doc_ids)
    report = json.loads((Path(manifest.resolve_artifact(out["report"])["uri"]) / "report.json").read_text())
    assert report["setup"]["warmup_steps"] == 2 and report["setup"]["generic_mix"] == 0.25


def test_own_decoder_with_abacus_trains_evaluates_and_keeps_the_ablation_arms_style(home):
    params = TailExperimentParams(home=str(home), arms=["tail", "tail_no_linear", "tail_no_atomic"], train_examples=30,
                                  eval_per_bucket=2, vocab_size=400, trainer="torch", position="nope", abacus=True,
                                  pretrain=TINY, max_new_tokens_cap=16)
    out = tail_experiment_flow(params)
    _, manifest = open_storage(str(home), read_only=True)
    report = manifest.resolve_artifact(out["report"])
    md = (Path(report["uri"]) / "report.md").read_text()
    assert "| TAIL w/o linear transition |" in md and "| TAIL w/o atomic states |" in md
    for arm, ids in out["lineage"].items():
        ckpt = manifest.resolve_artifact(ids["checkpoint"])
        meta = json.loads(ckpt["meta_json"])
        assert meta["layout"] == "tail_model" and meta["model_opts"]["position"] == "nope"
        cfg = json.loads((Path(ckpt["uri"]) / "tail_model.json").read_text())
        assert cfg["abacus"] and len(cfg["digit_token_ids"]) == 10
        train = pq.read_table(Path(manifest.resolve_artifact(ids["train_data"])["uri"]) / "sft.parquet")
        assert set(train.column("style").to_pylist()) == {arm}
        ev = manifest.resolve_artifact(ids["eval"])
        assert pq.read_table(Path(ev["uri"]) / "outputs.parquet").num_rows == 6


def test_own_decoder_with_right_to_left_abacus_gets_the_prompt_separator_token_and_evaluates(home):
    from s1data.tokenizer import load_tokenizer
    from s1model import tail_experiment as te

    params = TailExperimentParams(home=str(home), arms=["reversed"], train_examples=30, eval_per_bucket=2,
                                  vocab_size=400, trainer="torch", position="rope", abacus=True,
                                  abacus_direction="rtl", pretrain=TINY, max_new_tokens_cap=16)
    out = tail_experiment_flow(params)
    _, manifest = open_storage(str(home), read_only=True)
    ids = out["lineage"]["reversed"]
    ckpt = manifest.resolve_artifact(ids["checkpoint"])
    cfg = json.loads((Path(ckpt["uri"]) / "tail_model.json").read_text())
    assert cfg["abacus_direction"] == "rtl"
    tok = load_tokenizer(str(Path(manifest.resolve_artifact(out["tokenizer"])["uri"])))
    sep = cfg["abacus_sep_id"]
    assert sep in tok.encode(te.RESPONSE_SEP)  # a token of the separator, found in no prompt
    prompts = pq.read_table(Path(manifest.resolve_artifact(out["eval_prompts"])["uri"]) / "prompts.parquet")
    assert all(sep not in tok.encode(p) for p in prompts.column("prompt").to_pylist())
    ev = manifest.resolve_artifact(ids["eval"])
    assert pq.read_table(Path(ev["uri"]) / "outputs.parquet").num_rows == 6


def test_right_to_left_abacus_with_the_warm_up_corpus_is_refused():
    with pytest.raises(ValueError, match="separator"):
        TailExperimentParams(trainer="torch", abacus=True, abacus_direction="rtl", warmup_steps=4)
