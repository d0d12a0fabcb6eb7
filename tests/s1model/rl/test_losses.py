"""RL losses against values computed by hand."""

import math

import pytest
import torch

from s1model.rl import losses


def test_group_advantages_subtract_the_group_mean_and_grpo_divides_by_the_group_std():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    groups = torch.tensor([7, 7, 7, 3, 3, 3])
    adv = losses.group_advantages(rewards, groups, scale_by_std=False)
    torch.testing.assert_close(adv, torch.tensor([2 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0]))
    std = math.sqrt(((2 / 3) ** 2 + 2 * (1 / 3) ** 2) / 2)  # unbiased std of the first group
    adv = losses.group_advantages(rewards, groups, scale_by_std=True)
    torch.testing.assert_close(adv[:3], torch.tensor([2 / 3, -1 / 3, -1 / 3]) / (std + 1e-6))
    assert adv[3:].abs().max() == 0


def test_oreal_loss_is_bc_on_positive_tokens_plus_advantage_weighted_pg_on_negative_tokens():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -1.5]], requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 0]])
    rewards = torch.tensor([1.0, 0.0])
    adv = torch.tensor([0.5, -0.5])
    loss = losses.oreal_loss(logp, mask, rewards, adv, n_pos_tokens=2, n_neg_tokens=1)
    # BC: -(-1 - 2) / 2 = 1.5 ; PG: -(-0.5 * -0.5) / 1 = -0.25
    assert loss.item() == pytest.approx(1.25)
    loss.backward()
    # positives are pulled up by 1/n_pos per token, the negative's one token is pushed down by |A| / n_neg
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.5, -0.5], [0.5, 0.0]]))


def test_oreal_normalises_by_the_global_token_counts_passed_in_not_the_micro_batch():
    logp = torch.tensor([[-2.0, -2.0]])
    loss = losses.oreal_loss(logp, torch.ones(1, 2), torch.tensor([1.0]), torch.tensor([0.0]),
                             n_pos_tokens=8, n_neg_tokens=0)
    assert loss.item() == pytest.approx(4.0 / 8)


def test_grpo_loss_clips_the_ratio_on_the_pessimistic_side_only():
    mask, old = torch.ones(1, 1), torch.zeros(1, 1)
    up = torch.log(torch.tensor([[1.5]]))
    down = torch.log(torch.tensor([[0.5]]))
    assert losses.grpo_loss(up, old, mask, torch.tensor([1.0]), 1).item() == pytest.approx(-1.2)   # clipped
    assert losses.grpo_loss(down, old, mask, torch.tensor([1.0]), 1).item() == pytest.approx(-0.5)  # not clipped
    assert losses.grpo_loss(up, old, mask, torch.tensor([-1.0]), 1).item() == pytest.approx(1.5)   # not clipped
    # on-policy (ratio 1): -(sum of A over tokens) / n_tokens
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -1.5]])
    loss = losses.grpo_loss(logp, logp, torch.tensor([[1, 1], [1, 0]]), torch.tensor([0.7, -0.7]), 3)
    assert loss.item() == pytest.approx(-(0.7 * 2 - 0.7) / 3)


def test_kl_cov_penalises_only_the_top_k_tokens_by_covariance():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -4.0, -1.2]], requires_grad=True)
    adv = torch.tensor([1.0, -1.0])
    old = logp.detach() - 0.1
    old[0, 0] = logp[0, 0].detach() + 0.2
    # mean log p = -1.95, mean A = 0: covariances row 0 = [0.95, -0.05, -1.05], row 1 = [-1.45, 2.05, -0.75]
    pen, sel = losses.kl_cov_penalty(logp, old, torch.ones(2, 3), adv, n_tokens=6, k=0.34, beta=0.01)
    assert sel.tolist() == [[True, False, False], [False, True, False]]  # int(0.34 * 6) = 2 tokens
    assert pen.item() == pytest.approx(0.01 * (0.2 + 0.1) / 6)
    pen.backward()
    assert logp.grad[0, 1] == 0 and logp.grad[1, 2] == 0
    assert logp.grad[0, 0].item() == pytest.approx(-0.01 / 6) and logp.grad[1, 1].item() == pytest.approx(0.01 / 6)


def test_kl_cov_with_k_zero_adds_nothing():
    logp = torch.randn(2, 3)
    pen, sel = losses.kl_cov_penalty(logp, logp + 1, torch.ones(2, 3), torch.tensor([1.0, -1.0]), 6, k=0.0)
    assert pen.item() == 0 and not sel.any()


def test_token_logprobs_and_entropy_of_a_uniform_distribution():
    logits = torch.zeros(1, 2, 4)
    logp, ent = losses.token_logprobs(logits, torch.tensor([[1, 3]]))
    torch.testing.assert_close(logp, torch.full((1, 2), -math.log(4)))
    torch.testing.assert_close(ent, torch.full((1, 2), math.log(4)))


def test_k3_kl_is_zero_for_identical_policies_and_matches_its_formula():
    a = torch.tensor([[-1.0, -2.0]])
    assert losses.kl_k3(a, a, torch.ones(1, 2)).item() == 0
    d = torch.tensor([0.5, -0.5])
    expect = float((torch.exp(d) - d - 1).mean())
    assert losses.kl_k3(a + d, a, torch.ones(1, 2)).item() == pytest.approx(expect)
