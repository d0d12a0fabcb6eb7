"""Tiny end-to-end runs on Ray: offline RL (best-of-N + difficulty filter + SFT) and online RL (3 OREAL steps),
plus the update skip on a large gradient norm. Training is a plain torch AdamW loop on CPU."""

import json
import os

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from s1data.bootcamp import verify
from s1model.rl.config import tiny_offline, tiny_online
from s1model.rl.offline import difficulty_filter, mixture_report, offline_rl
from s1model.rl.online import online_rl, train_on_groups
from s1model.rl.policy import load_policy, make_optimizer
from s1model.rl.rewards import RewardResult


def test_difficulty_filter_drops_always_and_rarely_solved_prompts_with_their_reasons():
    scored = [{"sample_id": str(i), "task": "t", "data_source": "bootcamp/t", "length_bucket": "S", "pass_rate": p,
               "n_passed": int(p * 8)} for i, p in enumerate([1.0, 0.875, 0.5, 0.25, 0.0])]
    kept, excl = difficulty_filter(scored)
    assert [r["pass_rate"] for r in kept] == [0.875, 0.5]
    assert [(e["sample_id"], e["reason"]) for e in excl] == [("0", "offline_always_solved"),
                                                            ("3", "offline_rarely_solved"),
                                                            ("4", "offline_rarely_solved")]
    assert len(difficulty_filter(scored, None, None)[0]) == 5
    report = mixture_report(scored, kept)
    assert report == [{"data_source": "bootcamp/t", "length_bucket": "S", "prompts": 5, "kept": 2, "dropped": 3,
                       "with_verified_response": 4, "mean_pass_rate": pytest.approx(2.625 / 5)}]


def test_offline_rl_keeps_only_verified_best_of_n_responses_filters_by_pass_rate_and_fine_tunes(
        local_ray, sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    sft, rl = compare_data
    cfg = tiny_offline().model_copy(update={"sft_steps": 6})
    seen = []
    res = offline_rl(cfg, sft_model_dir, tokenizer_dir, rl.slice(0, 24), sft.slice(0, 8), str(tmp_path / "off"),
                     on_step=seen.append)
    bon = pq.read_table(res["best_of_n"]).to_pylist()
    assert 0 < len(bon) <= 24
    for row in bon:  # every selected response verifies under the bootcamp verifier
        assert row["reward"] == 1.0 and verify(row["task"], row["identity_json"], row["response"]) == 1.0
        assert row["pass_rate"] > 0
    kept = pq.read_table(res["rl_prompts_kept"]).to_pylist()
    excl = pq.read_table(res["exclusions"]).to_pylist()
    assert len(kept) + len(excl) == 24 == res["counts"]["prompts"]
    assert all(0.25 < r["pass_rate"] < 1.0 for r in kept)
    assert {e["reason"] for e in excl} <= {"offline_always_solved", "offline_rarely_solved"}
    assert sum(m["prompts"] for m in res["mixture"]) == 24
    assert sum(m["kept"] for m in res["mixture"]) == len(kept)
    assert res["counts"]["sft_sequences"] == len(bon) + 8 and res["counts"]["reference_traces"] == 8
    assert [m["step"] for m in seen] == list(range(1, 7)) and all(m["sft_loss"] > 0 for m in seen)
    before, after = load_file(os.path.join(sft_model_dir, "model.safetensors")), \
        load_file(os.path.join(res["hf_checkpoint"], "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)


METRICS = {"reward_mean", "reward/bootcamp/tail_compare", "pass_rate", "pass_rate/tail_compare",
           "pass_rate/tail_compare/S", "entropy", "kl", "response_length_mean", "filtered_group_share",
           "time_rollout_s", "time_reward_s", "time_train_s", "rollout_tokens_per_s", "train_tokens_per_s",
           "tokens_per_s", "loss", "grad_norm", "skipped_updates", "updates", "weight_version", "lr"}


def test_a_tiny_online_rl_run_records_every_metric_and_averages_its_last_checkpoints(
        local_ray, sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    _, rl = compare_data
    cfg = tiny_online()
    seen = []
    res = online_rl(cfg, sft_model_dir, tokenizer_dir, rl, str(tmp_path / "on"), on_step=seen.append)
    assert [m["step"] for m in seen] == [1, 2, 3] and res["final_step"] == 3
    for m in seen:
        assert METRICS <= set(m), METRICS - set(m)
        assert 0 <= m["filtered_group_share"] < 1 and 0 <= m["reward_mean"] <= 1
        assert m["entropy"] > 0 and m["kl"] >= 0 and m["time_train_s"] > 0 and m["tokens_per_s"] > 0
        assert m["updates"] + m["skipped_updates"] == 2  # train_minibatches
    assert [m["weight_version"] for m in seen] == [0.0, 1.0, 2.0]  # fresh weights pushed every later step
    assert [c["step"] for c in res["checkpoints"]] == [2, 3]
    avg = load_file(os.path.join(res["hf_checkpoint"], "model.safetensors"))
    s2, s3 = (load_file(os.path.join(c["path"], "model.safetensors")) for c in res["checkpoints"])
    for k in avg:
        torch.testing.assert_close(avg[k], (s2[k] + s3[k]) / 2)
    assert json.load(open(os.path.join(res["hf_checkpoint"], "averaged_from.json"))) == \
        [os.path.basename(p) for p in res["averaged_from"]] == ["step2", "step3"]  # names: no home path in content
    loaded = load_policy(res["hf_checkpoint"], "cpu")  # the averaged checkpoint is a loadable HF model
    assert loaded.config.vocab_size == load_policy(sft_model_dir, "cpu").config.vocab_size
    base = load_file(os.path.join(sft_model_dir, "model.safetensors"))
    assert any(not torch.equal(base[k], s3[k]) for k in base)

    # resume: a second call with more steps continues from step 3, not from scratch
    more = online_rl(cfg.model_copy(update={"steps": 4}), sft_model_dir, tokenizer_dir, rl, str(tmp_path / "on"))
    assert more["resumed_from"] == 3 and [m["step"] for m in more["metrics"]] == [4]


def _groups():
    comp = lambda toks: {"prompt_ids": [5, 6, 7], "token_ids": toks, "logprobs": [-1.0] * len(toks)}  # noqa: E731
    return [{"completions": [comp([8, 9, 0]), comp([10, 0])],
             "rewards": [RewardResult(1.0, "bootcamp", "bootcamp_correct"),
                         RewardResult(0.0, "bootcamp", "bootcamp_wrong_answer")]}]


def test_an_update_whose_grad_norm_exceeds_the_threshold_is_skipped_and_leaves_the_weights(sft_model_dir):
    model = load_policy(sft_model_dir, "cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = tiny_online().model_copy(update={"grad_norm_skip": 1e-9, "train_minibatches": 1})
    opt, sched = make_optimizer(model, cfg.optim)
    stats = train_on_groups(model, opt, sched, _groups(), cfg, pad_id=1)
    assert stats["skipped_updates"] == 1 and stats["updates"] == 0 and stats["grad_norm"] > 1e-9
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

    cfg = cfg.model_copy(update={"grad_norm_skip": None, "optim": cfg.optim.model_copy(update={"freeze_router": True})})
    from s1model.rl.policy import freeze_router
    assert freeze_router(model) == 2
    opt, sched = make_optimizer(model, cfg.optim)
    stats = train_on_groups(model, opt, sched, _groups(), cfg, pad_id=1)
    assert stats["updates"] == 1
    after = model.state_dict()
    assert torch.equal(before["model.layers.0.mlp.gate.weight"], after["model.layers.0.mlp.gate.weight"])
    assert not torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
