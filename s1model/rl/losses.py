"""RL policy losses over response tokens: OREAL (default), GRPO, and the KL-Cov penalty.

Shape legend: B samples (rows), S response positions, V vocab, G group size. `mask_BS` is 1 on response tokens.
Every loss is a *sum* over this micro-batch's tokens divided by a token count of the whole optimizer batch
(`n_tokens`, `n_pos_tokens`, `n_neg_tokens`), so summing the losses of micro-batches gives the global-token mean
(no per-sequence averaging: long responses weigh by their length). All math in fp32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def token_logprobs(logits_BSV: torch.Tensor, targets_BS: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π(target) per position, entropy of π per position), fp32; entropy is detached."""
    logp_BSV = F.log_softmax(logits_BSV.float(), dim=-1)
    logp_BS = logp_BSV.gather(-1, targets_BS[..., None]).squeeze(-1)
    with torch.no_grad():
        entropy_BS = -(logp_BSV.exp() * logp_BSV).sum(-1)
    return logp_BS, entropy_BS


def group_advantages(rewards_B: torch.Tensor, group_ids_B: torch.Tensor, scale_by_std: bool,
                     eps: float = 1e-6) -> torch.Tensor:
    """A_b = r_b - mean of its group (GRPO divides by the group's std + eps as well)."""
    _, inv_B = torch.unique(group_ids_B, return_inverse=True)
    n_G = torch.bincount(inv_B).float()
    mean_G = torch.zeros_like(n_G).index_add_(0, inv_B, rewards_B.float()) / n_G
    adv_B = rewards_B.float() - mean_G[inv_B]
    if scale_by_std:
        var_G = torch.zeros_like(n_G).index_add_(0, inv_B, adv_B ** 2) / (n_G - 1).clamp(min=1)
        adv_B = adv_B / (var_G.sqrt()[inv_B] + eps)
    return adv_B


def oreal_loss(logp_BS: torch.Tensor, mask_BS: torch.Tensor, rewards_B: torch.Tensor, adv_B: torch.Tensor,
               n_pos_tokens: float, n_neg_tokens: float, positive_threshold: float = 1.0,
               neg_weight: float = 1.0) -> torch.Tensor:
    """OREAL-style: behaviour cloning on positives + policy gradient on negatives, no importance ratio/clipping.

    positives (reward >= positive_threshold):  sum over their tokens of -log π            / n_pos_tokens
    negatives (the rest):                     sum over their tokens of -A_b · log π        / n_neg_tokens
    with A_b = r_b - group mean (< 0 for a negative of a mixed group: it is pushed down harder the more its
    group succeeded). Total = BC + neg_weight · PG.
    """
    mask = mask_BS.float()
    pos_B = (rewards_B >= positive_threshold).float()
    bc = -(logp_BS * mask * pos_B[:, None]).sum() / max(n_pos_tokens, 1.0)
    pg = -(adv_B[:, None] * logp_BS * mask * (1.0 - pos_B)[:, None]).sum() / max(n_neg_tokens, 1.0)
    return bc + neg_weight * pg


def grpo_loss(logp_BS: torch.Tensor, old_logp_BS: torch.Tensor, mask_BS: torch.Tensor, adv_B: torch.Tensor,
              n_tokens: float, clip_eps: float = 0.2) -> torch.Tensor:
    """GRPO/PPO clipped surrogate, token-level: sum of -min(ρA, clip(ρ, 1-ε, 1+ε)A) / n_tokens, ρ = π/π_old."""
    ratio_BS = torch.exp(logp_BS - old_logp_BS)
    a_BS = adv_B[:, None].expand_as(ratio_BS)
    surrogate_BS = torch.minimum(ratio_BS * a_BS, ratio_BS.clamp(1 - clip_eps, 1 + clip_eps) * a_BS)
    return -(surrogate_BS * mask_BS.float()).sum() / max(n_tokens, 1.0)


def kl_cov_penalty(logp_BS: torch.Tensor, old_logp_BS: torch.Tensor, mask_BS: torch.Tensor, adv_B: torch.Tensor,
                   n_tokens: float, k: float = 0.2, beta: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """KL-Cov (Cui et al. 2025): rank this micro-batch's N response tokens by the covariance term
    (log π_i - mean log π)·(A_i - mean A), take the top int(k·N), and add beta·|log π_i - log π_old,i| on them only.

    Returns (penalty summed over the selected tokens / n_tokens, selected mask B x S). The ranking is detached.
    """
    valid_BS = mask_BS.bool()
    n = int(valid_BS.sum())
    n_sel = int(k * n)
    selected_BS = torch.zeros_like(valid_BS)
    if n_sel == 0:
        return logp_BS.sum() * 0.0, selected_BS
    with torch.no_grad():
        lp = logp_BS[valid_BS]
        a = adv_B[:, None].expand_as(logp_BS)[valid_BS]
        cov_N = (lp - lp.mean()) * (a - a.mean())
        top = cov_N.topk(n_sel).indices
        flat = torch.zeros(n, dtype=torch.bool, device=logp_BS.device)
        flat[top] = True
        selected_BS[valid_BS] = flat
    penalty = beta * ((logp_BS - old_logp_BS).abs() * selected_BS.float()).sum() / max(n_tokens, 1.0)
    return penalty, selected_BS


def kl_k3(logp_BS: torch.Tensor, old_logp_BS: torch.Tensor, mask_BS: torch.Tensor) -> torch.Tensor:
    """Token-mean k3 estimate of KL(π_old || π): E[exp(d) - d - 1], d = log π - log π_old (>= 0, unbiased)."""
    d = (logp_BS - old_logp_BS).float()
    m = mask_BS.float()
    return ((torch.exp(d) - d - 1) * m).sum() / m.sum().clamp(min=1)
