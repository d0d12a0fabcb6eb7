"""The Mixture-of-Rewards router: routing, [0, 1] rewards with a source and reason, failures as 0 with a reason,
the reward-model plugin (a tiny randomly initialised reward model) and the OpenAI judge (local stand-in server),
and Ray reward tasks."""

import math
import time

import pytest
import torch

from s1model.rl.rewards import JudgeRoute, RewardConfig, RewardRouter, score_with_ray
from tests.s1model.rl.standin_server import StandInOpenAIServer


def _sample(rl_row, response):
    return {"data_source": rl_row["data_source"], "task": rl_row["task"], "identity_json": rl_row["identity_json"],
            "prompt": rl_row["prompt"], "response": response}


def test_bootcamp_sources_go_to_their_verifier_and_other_sources_to_the_format_rules(compare_data):
    sft, rl = compare_data
    row, ref = rl.to_pylist()[0], sft["response"][0].as_py()
    router = RewardRouter()
    right = router.score(_sample(row, ref))
    assert (right.score, right.source, right.reason, right.data_source) == (1.0, "bootcamp", "bootcamp_correct",
                                                                           "bootcamp/tail_compare")
    wrong_answer = "\\boxed{=}" if ref != "\\boxed{=}" else "\\boxed{<}"
    wrong = router.score(_sample(row, wrong_answer))
    assert (wrong.score, wrong.reason) == (0.0, "bootcamp_wrong_answer")
    assert router.score(_sample(row, "no answer")).reason == "bootcamp_no_answer"

    fmt = router.score({"data_source": "open/essay", "response": "<think>hm</think> so \\boxed{42}"})
    assert (fmt.score, fmt.source, fmt.reason) == (1.0, "format", "format_ok")
    half = router.score({"data_source": "open/essay", "response": "just \\boxed{42}"})
    assert (half.score, half.reason) == (0.5, "format_missing_think")


def test_format_score_rewards_an_extracted_but_wrong_bootcamp_answer(compare_data):
    sft, rl = compare_data
    row, ref = rl.to_pylist()[0], sft["response"][0].as_py()
    wrong_answer = "\\boxed{=}" if ref != "\\boxed{=}" else "\\boxed{<}"
    cfg = RewardConfig(routes=[JudgeRoute(pattern="bootcamp/*", judge="bootcamp", params={"format_score": 0.1})])
    router = RewardRouter(cfg)
    wrong = router.score(_sample(row, wrong_answer))
    assert (wrong.score, wrong.reason) == (0.1, "bootcamp_wrong_answer")
    assert router.score(_sample(row, ref)).score == 1.0
    assert router.score(_sample(row, "nothing")).score == 0.0


def test_a_judge_that_raises_gives_zero_with_the_error_as_reason_and_the_next_sample_still_scores():
    def broken(sample):
        raise RuntimeError("verifier exploded")

    cfg = RewardConfig(routes=[JudgeRoute(pattern="x/*", judge="bootcamp"), JudgeRoute(pattern="*", judge="format")])
    router = RewardRouter(cfg, judges={"bootcamp": broken})
    r = router.score({"data_source": "x/1", "response": "a"})
    assert (r.score, r.source, r.reason) == (0.0, "bootcamp", "reward_judge_error")
    assert "verifier exploded" in r.detail
    assert router.score({"data_source": "y", "response": "\\boxed{1}"}).score == 0.5


def test_a_judge_over_the_timeout_gives_zero_with_a_timeout_reason_without_waiting_for_it():
    def slow(sample):
        time.sleep(5)
        return 1.0, "late", ""

    router = RewardRouter(RewardConfig(routes=[JudgeRoute(pattern="*", judge="format")], timeout_s=0.2),
                          judges={"format": slow})
    t0 = time.perf_counter()
    r = router.score({"data_source": "a", "response": "x"})
    assert time.perf_counter() - t0 < 2.0
    assert (r.score, r.reason) == (0.0, "reward_judge_timeout")


def test_unrouted_nonfinite_and_out_of_range_scores_land_in_zero_one_with_a_reason():
    vals = iter([float("nan"), 7.0, -3.0])
    router = RewardRouter(RewardConfig(routes=[JudgeRoute(pattern="j/*", judge="format")]),
                          judges={"format": lambda s: (next(vals), "raw", "")})
    assert router.score({"data_source": "nowhere", "response": ""}).reason == "reward_no_route"
    nan = router.score({"data_source": "j/1", "response": ""})
    assert (nan.score, nan.reason) == (0.0, "reward_not_finite")
    assert router.score({"data_source": "j/1", "response": ""}).score == 1.0
    assert router.score({"data_source": "j/1", "response": ""}).score == 0.0


def test_reward_model_plugin_scores_with_a_tiny_randomly_initialised_reward_model(tmp_path, tokenizer_dir):
    from transformers import Qwen3MoeForSequenceClassification

    from s1data.tokenizer import load_tokenizer
    from s1model.config import tiny
    from s1model.model import hf_config

    m = tiny().model.model_copy(update={"vocab_size": load_tokenizer(tokenizer_dir).vocab_size})
    cfg = hf_config(m)
    cfg.num_labels = 1
    torch.manual_seed(0)
    tiny_random_reward_model = Qwen3MoeForSequenceClassification(cfg)
    tiny_random_reward_model.save_pretrained(tmp_path / "rm")
    router = RewardRouter(RewardConfig(routes=[JudgeRoute(pattern="open/*", judge="reward_model", params={
        "checkpoint": str(tmp_path / "rm"), "tokenizer_dir": tokenizer_dir})]))
    a = router.score({"data_source": "open/qa", "prompt": "Why?", "reference": "Because.", "response": "Because."})
    b = router.score({"data_source": "open/qa", "prompt": "Why?", "reference": "Because.", "response": "No idea."})
    assert a.source == "reward_model" and a.reason == "reward_model_scored"
    logit = float(a.detail.split("=")[1])
    assert a.score == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-4)
    assert 0 < a.score < 1 and a.score != b.score


def test_openai_judge_scores_from_a_local_stand_in_server():
    with StandInOpenAIServer(judge_reply="I'd say \\boxed{7}") as server:
        router = RewardRouter(RewardConfig(routes=[JudgeRoute(pattern="*", judge="openai_judge", params={
            "base_url": server.base_url, "model": "judge"})]))
        r = router.score({"data_source": "open/x", "prompt": "p", "reference": "r", "response": "o"})
        assert (r.score, r.source, r.reason) == (0.7, "openai_judge", "openai_judge_scored")
        assert server.requests[0]["path"] == "/v1/chat/completions"
        assert "Response:\no" in server.requests[0]["body"]["messages"][0]["content"]


def test_ray_reward_tasks_return_the_same_rewards_in_input_order(local_ray, compare_data):
    sft, rl = compare_data
    rows, refs = rl.to_pylist()[:20], sft["response"].to_pylist()[:20]
    samples = [_sample(r, ref if i % 2 == 0 else "\\boxed{=}") for i, (r, ref) in enumerate(zip(rows, refs))]
    samples.append({"data_source": "open/x", "response": "<think>a</think>"})
    cfg = RewardConfig(chunk_size=6)
    remote = score_with_ray(cfg, samples)
    local = RewardRouter(cfg).score_batch(samples)
    assert [r.to_dict() for r in remote] == [r.to_dict() for r in local]
    assert [r.score for r in remote[:20:2]] == [1.0] * 10
    assert remote[-1].source == "format" and remote[-1].score == 0.5
