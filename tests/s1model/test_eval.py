"""s1model.eval: pass@k arithmetic, per-task / per-length summaries, and a whole evaluation of a small SFT'd model
(verifier scores, per-domain perplexity, a judge stand-in server)."""

from __future__ import annotations

import json
import math
import os

import pytest

from s1data.bootcamp import verify
from s1model.eval import EvalConfig, evaluate, pass_at_k, summarise
from tests.s1model.conftest import write_shard
from tests.s1model.rl.conftest import (base_model_dir, compare_data, sft_model_dir,  # noqa: F401 (fixtures)
                                       tokenizer_dir)
from tests.s1model.rl.standin_server import StandInOpenAIServer


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - (7 * 6) / (10 * 9))


def test_summaries_give_avg_at_k_pass_at_1_and_pass_at_k_per_task_and_length_bucket():
    def s(i, kind, r, task="t", b="S"):
        return {"prompt_index": i, "kind": kind, "task": task, "length_bucket": b, "reward": r, "passed": r >= 1.0}

    samples = [s(0, "sample", 1.0), s(0, "sample", 0.0), s(0, "greedy", 1.0),
               s(1, "sample", 0.0), s(1, "sample", 0.0), s(1, "greedy", 0.0),
               s(2, "sample", 0.5, b="M"), s(2, "sample", 1.0, b="M"), s(2, "greedy", 0.0, b="M")]
    rows = {r["length_bucket"]: r for r in summarise(samples, 2, ("task", "length_bucket"))}
    assert rows["S"] == {"task": "t", "length_bucket": "S", "prompts": 2, "samples": 4, "avg@2": 0.25,
                         "pass@1": 0.25, "pass@2": 0.5, "greedy_pass_rate": 0.5}
    assert rows["M"]["avg@2"] == 0.75 and rows["M"]["pass@2"] == 1.0 and rows["M"]["greedy_pass_rate"] == 0.0
    (overall,) = summarise(samples, 2, ())
    assert overall["prompts"] == 3 and overall["pass@2"] == pytest.approx(2 / 3)


def test_an_evaluation_scores_held_out_prompts_by_their_verifier_perplexity_per_domain_and_a_judge(
        sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    _, rl = compare_data
    prompts = rl.slice(32, 12)  # not the rows the other RL tests sample first
    shard = write_shard(str(tmp_path / "shard.parquet"), 6, 64, 256, seed=3)
    with StandInOpenAIServer(judge_reply="Score: \\boxed{7}") as judge:  # a stand-in for a hosted judge model
        cfg = EvalConfig(k=4, max_new_tokens=12, ppl_max_rows=6, judge_url=judge.base_url, judge_all=True,
                         judge_max_prompts=3)
        report = evaluate(cfg, sft_model_dir, tokenizer_dir, prompts, [shard], str(tmp_path / "out"))
        judged = [r for r in judge.requests if r["path"].endswith("/chat/completions")]
    assert report["prompts"] == 12 and report["samples"] == 12 * 4 + 12
    (task,) = report["per_task"]
    assert task["task"] == "tail_compare" and task["prompts"] == 12 and task["samples"] == 48
    assert 0.0 <= task["pass@1"] <= task["pass@4"] <= 1.0
    assert task["pass@4"] > 0  # the SFT'd model answers in the verifier's format and is right on some prompts
    import pyarrow.parquet as pq

    samples = pq.read_table(tmp_path / "out" / "samples.parquet").to_pylist()
    rows = prompts.to_pylist()
    for smp in samples:
        if smp["kind"] in ("sample", "greedy"):  # the reward is the bootcamp verifier's verdict on that response
            row = rows[smp["prompt_index"]]
            assert smp["passed"] == (verify(row["task"], row["identity_json"], smp["response"]) >= 1.0)
    (ppl,) = report["perplexity"]
    assert ppl["domain"] == "chemistry" and ppl["tokens"] > 300 and math.isfinite(ppl["perplexity"])
    assert ppl["perplexity"] == pytest.approx(math.exp(ppl["nll"]))
    assert len(judged) == 3 and report["judge"] == {"prompts": 3, "mean_score": pytest.approx(0.7),
                                                    "reasons": {"openai_judge_scored": 3}}
    assert json.load(open(os.path.join(tmp_path, "out", "report.json")))["per_task"] == report["per_task"]
