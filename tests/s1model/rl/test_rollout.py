"""Ray rollout actors (real actors, built-in engine) and the oversampling loop with group filtering."""


from s1model.rl.generate import Completion, SamplingParams
from s1model.rl.policy import load_policy
from s1model.rl.rewards import RewardConfig, score_with_ray
from s1model.rl.rollout import (RolloutConfig, collect_batch, complete_on_actors, looping_period, output_defect,
                                push_weights, start_actors)

CFG = RolloutConfig(group_size=4, prompts_per_step=3, oversample=2.0, max_rounds=3, loop_min_tokens=8,
                    sampling=SamplingParams(max_new_tokens=8, temperature=1.0, seed=0))


def test_a_periodic_tail_is_looping_and_control_characters_are_garbled():
    assert looping_period([5, 1, 2, 3] * 4, max_period=8, min_tokens=8) == 4
    assert looping_period([7] * 10, max_period=8, min_tokens=8) == 1
    assert looping_period([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], max_period=8, min_tokens=8) is None
    loop = Completion([1], [1, 2] * 8, [], "length")
    assert output_defect(loop, "abababab", CFG) == "rollout_looping"
    assert output_defect(Completion([1], [1, 2] * 8, [], "eos"), "ab", CFG) is None  # it stopped: not a loop
    assert output_defect(Completion([1], [3, 4], [], "eos"), "\x00\x01\ufffdok", CFG) == "rollout_garbled"
    assert output_defect(Completion([1], [3, 4], [], "eos"), "\\boxed{<}", CFG) is None


def test_pushing_new_weights_to_a_ray_rollout_actor_changes_its_greedy_outputs(local_ray, base_model_dir,
                                                                               sft_model_dir, tokenizer_dir,
                                                                               compare_data):
    _, rl = compare_data
    prompts = rl["prompt"].to_pylist()[:4]
    greedy = SamplingParams(max_new_tokens=6, temperature=0.0)
    actors = start_actors(base_model_dir, tokenizer_dir, CFG)
    before = complete_on_actors(actors, prompts, 1, greedy)
    assert [g[0]["version"] for g in before] == [0] * 4
    assert push_weights(actors, load_policy(sft_model_dir, "cpu").state_dict()) == [1]
    after = complete_on_actors(actors, prompts, 1, greedy)
    assert [g[0]["version"] for g in after] == [1] * 4
    assert [g[0]["text"] for g in before] != [g[0]["text"] for g in after]
    assert all(g[0]["text"].startswith("\\boxed{") for g in after)  # the SFT weights are the ones answering
    local_ray.kill(actors[0])


def test_collect_batch_keeps_only_groups_with_unequal_rewards_and_reports_the_filtered_share(
        local_ray, sft_model_dir, tokenizer_dir, compare_data):
    _, rl = compare_data
    rows = rl.to_pylist()
    stream = iter(rows * 10)
    actors = start_actors(sft_model_dir, tokenizer_dir, CFG)
    batch = collect_batch(actors, stream, lambda s: score_with_ray(RewardConfig(), s), CFG, seed=1)
    local_ray.kill(actors[0])

    # a full batch, or fewer groups only because every oversampling round was spent
    assert batch.groups  # the SFT policy is right on some samples and wrong on others
    assert len(batch.groups) == CFG.prompts_per_step or batch.rounds == CFG.max_rounds
    for g in batch.groups:
        assert len({r.score for r in g["rewards"]}) == 2  # both a right and a wrong answer: a learning signal
        assert all(len(c["logprobs"]) == len(c["token_ids"]) for c in g["completions"])
    assert len(batch.samples) == batch.groups_sampled * CFG.group_size
    dropped = batch.drops.get("rollout_all_equal_rewards", 0) + batch.drops.get("rollout_too_few_outputs", 0)
    assert batch.groups_filtered == dropped
    assert batch.filtered_group_share == dropped / batch.groups_sampled
    assert batch.groups_sampled == len(batch.groups) + dropped + batch.drops.get("rollout_surplus", 0)
    assert batch.rollout_s > 0 and batch.reward_s > 0 and batch.generated_tokens > 0
