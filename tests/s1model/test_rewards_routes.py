"""The Mixture-of-Rewards routes this work adds: InternBootCamp tasks by import path (partial credit, a raising and a
spinning verifier, bounded in time), and the open-ended prompts' reward-model and LLM-judge stand-ins."""

import json

from s1model.rl.rewards import JudgeRoute, RewardConfig, RewardRouter

MOD = "tests.s1data.bootcamp.ibc_tasks"
LONG = "<think>" + "reasoning " * 12 + "</think> "


def test_default_routes_send_each_data_source_kind_to_its_judge():
    router = RewardRouter()
    words = {"data_source": f"{MOD}:WordSetbootcamp", "identity_json": json.dumps({"words": ["alpha", "beta"]}),
             "response": LONG + "\\boxed{alpha, gamma}"}
    r = router.score(words)
    assert (r.source, r.reason) == ("bootcamp", "bootcamp_partial_credit") and abs(r.score - 1 / 3) < 1e-9
    rm = router.score({"data_source": "open/rm/physics", "reference": "The field decays with distance.",
                       "response": "<think>x</think>\\boxed{The field decays quickly with distance.}"})
    assert rm.source == "reward_model_standin" and 0.5 < rm.score < 1.0
    judge = router.score({"data_source": "open/judge/life", "reference": "Cells divide by mitosis.",
                          "response": "\\boxed{Cells divide by mitosis.}"})
    assert (judge.source, judge.score, judge.reason) == ("llm_judge_standin", 1.0, "llm_judge_standin_scored")
    empty = router.score({"data_source": "open/judge/life", "reference": "Cells divide by mitosis.",
                          "response": "\\boxed{}"})
    assert empty.score == 0.0
    native = router.score({"data_source": "bootcamp/tail_compare", "response": "\\boxed{>}",
                           "identity_json": json.dumps({"a": "2", "b": "1"})})
    assert native.source == "bootcamp"


def test_a_raising_and_a_spinning_plugin_verifier_give_zero_with_their_reasons_and_the_next_sample_is_scored():
    cfg = RewardConfig(timeout_s=60.0, routes=[JudgeRoute(pattern="*:*", judge="bootcamp", params={"timeout_s": 1.0})])
    router = RewardRouter(cfg)
    raising = router.score({"data_source": f"{MOD}:Raisingbootcamp", "identity_json": json.dumps({"n": 1, "x": 2}),
                            "response": LONG + "\\boxed{2}"})
    assert (raising.score, raising.reason) == (0.0, "bootcamp_verifier_error")
    slow = router.score({"data_source": f"{MOD}:Slowbootcamp", "identity_json": json.dumps({"spin_s": 600, "x": 1}),
                         "response": LONG + "\\boxed{1}"})
    assert (slow.score, slow.reason) == (0.0, "bootcamp_verifier_timeout")
    fast = router.score({"data_source": f"{MOD}:Slowbootcamp", "identity_json": json.dumps({"spin_s": 0, "x": 1}),
                         "response": LONG + "\\boxed{1}"})
    assert (fast.score, fast.reason) == (1.0, "bootcamp_correct")


def test_a_plugin_score_outside_zero_one_is_clipped():
    from s1data.bootcamp.plugins import score_external

    class Generous:
        @classmethod
        def verify_score(cls, model_output, identity, format_score=0, **kw):
            return 3.5

    class Nan(Generous):
        @classmethod
        def verify_score(cls, model_output, identity, format_score=0, **kw):
            return float("nan")

    assert score_external(Generous, "x", {}).score == 1.0
    assert score_external(Nan, "x", {}).reason == "bootcamp_verifier_error"
