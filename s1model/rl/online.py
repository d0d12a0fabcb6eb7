"""Online RL: `online_rl(config, model_dir, tokenizer_dir, prompts, out_dir)`.

Each step: push the policy's weights to the Ray rollout actors → collect a batch of groups (oversampled, filtered,
rewards from Ray reward tasks) → `train_minibatches` AdamW updates with the OREAL or GRPO loss (+ KL-Cov), each
skipped if its pre-clip gradient norm exceeds `grad_norm_skip` → metrics. Plain torch AdamW on one process (see
docs/rl.md); the rollout actors and reward workers are Ray's.

Layout of out_dir: checkpoints/step{N}/ (HF + trainer_state.pt), checkpoints/latest, hf/ (mean of the last
`average_last` checkpoints), online_rl_config.json.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from typing import Callable, Iterator

import pyarrow as pa
import torch

from s1model.rl import losses
from s1model.rl.config import OnlineRLConfig
from s1model.rl.policy import (TRAINER_STATE, align_behaviour_logprobs, average_checkpoints, freeze_router,
                               load_policy, make_optimizer, pad_batch, response_logprobs, save_checkpoint)
from s1model.rl.rewards import score_with_ray
from s1model.rl.rollout import RolloutBatch, collect_batch, push_weights, start_actors

log = logging.getLogger(__name__)


class PromptStream:
    """Endless prompt rows in a seeded permutation per epoch; `consumed` counts rows handed out (for resume)."""

    def __init__(self, rows: list[dict], seed: int, consumed: int = 0):
        if not rows:
            raise ValueError("the prompt table is empty (an offline_rl artifact whose difficulty filter kept no "
                             "prompt has none): use the bootcamp's rl_prompts")
        self.rows, self.seed, self.consumed = rows, seed, 0
        self._it = self._gen()
        for _ in range(consumed):
            next(self)

    def _gen(self) -> Iterator[dict]:
        epoch = 0
        while True:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            for i in torch.randperm(len(self.rows), generator=g).tolist():
                yield self.rows[i]
            epoch += 1

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        self.consumed += 1
        return next(self._it)


def init_ray(ray_address: str | None, num_cpus: int | None) -> bool:
    """Join `ray_address` or start a local Ray unless one is up; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if ray_address:
        ray.init(address=ray_address, log_to_driver=False)
    else:
        # address="local" and no RAY_ADDRESS: always a new local instance, never a head some other process left
        # running or advertised (joining a cluster is what `ray_address` is for)
        os.environ.pop("RAY_ADDRESS", None)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return True


def _latest(ckpt_dir: str) -> str | None:
    path = os.path.join(ckpt_dir, "latest")
    return os.path.join(ckpt_dir, open(path).read().strip()) if os.path.exists(path) else None


def _step_metrics(batch: RolloutBatch) -> dict:
    """Reward per data source, pass rate per task and length bucket, lengths, filtering, over every sampled
    completion of the step (kept or not)."""
    m: dict[str, float] = {}
    by_source, by_task, by_bucket = defaultdict(list), defaultdict(list), defaultdict(list)
    for s in batch.samples:
        by_source[s["data_source"]].append(s["reward"])
        by_task[s["task"] or s["data_source"]].append(s["passed"])
        by_bucket[(s["task"] or s["data_source"], s["length_bucket"] or "-")].append(s["passed"])
    n = max(len(batch.samples), 1)
    m["reward_mean"] = sum(s["reward"] for s in batch.samples) / n
    m["pass_rate"] = sum(s["passed"] for s in batch.samples) / n
    for k, v in by_source.items():
        m[f"reward/{k}"] = sum(v) / len(v)
    for k, v in by_task.items():
        m[f"pass_rate/{k}"] = sum(v) / len(v)
    for (t, b), v in by_bucket.items():
        m[f"pass_rate/{t}/{b}"] = sum(v) / len(v)
    lens = [s["n_tokens"] for s in batch.samples] or [0]
    m["response_length_mean"] = sum(lens) / len(lens)
    m["response_length_max"] = float(max(lens))
    m["filtered_group_share"] = batch.filtered_group_share
    m["groups_sampled"] = float(batch.groups_sampled)
    m["groups_kept"] = float(len(batch.groups))
    m["rollout_rounds"] = float(batch.rounds)
    for k, v in batch.drops.items():
        m[f"drops/{k}"] = float(v)
    return m


def train_on_groups(model, optimizer, scheduler, groups: list[dict], config: OnlineRLConfig, pad_id: int) -> dict:
    """`train_minibatches` AdamW updates on the kept groups; returns loss, entropy, KL, grad norms, skips."""
    device = next(model.parameters()).device
    opt = config.optim
    mb_groups = [groups[i::config.train_minibatches] for i in range(config.train_minibatches)]
    params = [p for p in model.parameters() if p.requires_grad]
    stats = defaultdict(float)
    n_updates = skipped = 0
    for gi, mgroups in enumerate(mb_groups):
        pairs, lps, rewards, gids = [], [], [], []
        for k, g in enumerate(mgroups):
            for c, r in zip(g["completions"], g["rewards"]):
                pairs.append((c["prompt_ids"], c["token_ids"]))
                lps.append(c["logprobs"])
                rewards.append(r.score)
                gids.append(k)
        rewards_B = torch.tensor(rewards, device=device)
        gids_B = torch.tensor(gids, device=device)
        adv_B = losses.group_advantages(rewards_B, gids_B, scale_by_std=config.loss == "grpo")
        lens = torch.tensor([len(p[1]) for p in pairs], dtype=torch.float32)
        pos = rewards_B.cpu() >= config.positive_threshold
        n_tokens, n_pos = float(lens.sum()), float(lens[pos].sum())
        n_neg = n_tokens - n_pos
        optimizer.zero_grad(set_to_none=True)
        mbs = opt.micro_batch_size
        sums = torch.zeros(5, device=device)  # loss, entropy sum, k3 sum, selected tokens, tokens
        for s in range(0, len(pairs), mbs):
            ids, attn, tgt, resp = pad_batch(pairs[s:s + mbs], pad_id, opt.max_seq_len, device)
            logp, ent = response_logprobs(model, ids, attn, tgt)
            if all(lps[s:s + mbs]):
                old = align_behaviour_logprobs(lps[s:s + mbs], resp)
            else:  # the openai backend returns no log-probs: the policy before this update is the behaviour
                old = logp.detach()
            a = adv_B[s:s + mbs]
            if config.loss == "oreal":
                loss = losses.oreal_loss(logp, resp, rewards_B[s:s + mbs], a, n_pos, n_neg,
                                         config.positive_threshold, config.neg_weight)
            else:
                loss = losses.grpo_loss(logp, old, resp, a, n_tokens, config.grpo_clip_eps)
            n_sel = 0.0
            if config.kl_cov:
                pen, sel = losses.kl_cov_penalty(logp, old, resp, a, n_tokens, config.kl_cov_k, config.kl_cov_beta)
                loss = loss + pen
                n_sel = float(sel.sum())
            loss.backward()
            m = resp.float()
            d = (logp.detach() - old)
            sums += torch.stack([loss.detach(), (ent * m).sum(), ((torch.exp(d) - d - 1) * m).sum(),
                                 torch.tensor(n_sel, device=device), m.sum()])
        max_norm = opt.grad_clip if opt.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        skip = not torch.isfinite(torch.tensor(grad_norm)) or (
            config.grad_norm_skip is not None and grad_norm > config.grad_norm_skip)
        if skip:
            optimizer.zero_grad(set_to_none=True)
            skipped += 1
            log.warning("update skipped: grad norm %.3g > %s", grad_norm, config.grad_norm_skip)
        else:
            optimizer.step()
            scheduler.step()
            n_updates += 1
        tok = float(sums[4].clamp(min=1))
        stats["loss"] += float(sums[0]) / len(mb_groups)
        stats["entropy"] += float(sums[1]) / tok / len(mb_groups)
        stats["kl"] += float(sums[2]) / tok / len(mb_groups)
        stats["kl_cov_selected_share"] += float(sums[3]) / tok / len(mb_groups)
        stats["grad_norm"] = max(stats["grad_norm"], grad_norm)
        stats["train_tokens"] += tok
    stats["updates"] = float(n_updates)
    stats["skipped_updates"] = float(skipped)
    return dict(stats)


def online_rl(config: OnlineRLConfig, model_dir: str, tokenizer_dir: str, prompts: pa.Table, out_dir: str,
              on_step: Callable[[dict], None] | None = None, ray_address: str | None = None) -> dict:
    """Run config.steps RL steps from the HF checkpoint model_dir on the rl_prompts rows; resume from out_dir.

    Returns {"hf_checkpoint", "checkpoints": [{"path", "step"}], "averaged_from", "final_step", "resumed_from",
    "metrics": [per-step dicts of this run]}. `on_step(metrics)` is called after every step.
    """
    import ray

    from s1data.tokenizer import load_tokenizer

    ckpt_dir = os.path.join(out_dir, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    with open(os.path.join(out_dir, "online_rl_config.json"), "w") as f:
        f.write(config.model_dump_json(indent=2))
    torch.manual_seed(config.seed)
    tok = load_tokenizer(tokenizer_dir)

    start, consumed, saved = 0, 0, []
    latest = _latest(ckpt_dir) if config.resume else None
    policy_dir = latest or model_dir
    model = load_policy(policy_dir)
    if config.optim.freeze_router:
        freeze_router(model)
    optimizer, scheduler = make_optimizer(model, config.optim)
    if latest:
        st = torch.load(os.path.join(latest, TRAINER_STATE), map_location="cpu", weights_only=False)
        optimizer.load_state_dict(st["optimizer"])
        scheduler.load_state_dict(st["scheduler"])
        start, consumed, saved = st["step"], st["consumed"], st["saved"]
        log.info("resumed online RL from %s at step %d", latest, start)
    stream = PromptStream(prompts.to_pylist(), config.seed, consumed)

    started_ray = init_ray(ray_address, config.ray_num_cpus)
    actors = start_actors(policy_dir, tokenizer_dir, config.rollout)
    metrics_log: list[dict] = []
    try:
        for step in range(start, config.steps):
            t0 = time.perf_counter()
            version = push_weights(actors, model.state_dict()) if step > start else [0]
            batch = collect_batch(actors, stream, lambda s: score_with_ray(config.rewards, s), config.rollout,
                                  seed=config.seed * 100003 + step)
            t1 = time.perf_counter()
            train = {"updates": 0.0, "skipped_updates": 0.0, "train_tokens": 0.0}
            if batch.groups:
                model.train()
                train = train_on_groups(model, optimizer, scheduler, batch.groups, config, tok.pad_id)
            else:
                log.warning("step %d: no group with a learning signal after %d rounds; no update", step + 1,
                            batch.rounds)
            t2 = time.perf_counter()
            done = step + 1
            m = {"step": done, **_step_metrics(batch), **train,
                 "lr": scheduler.get_last_lr()[0], "weight_version": float(version[0]),
                 "time_rollout_s": batch.rollout_s, "time_reward_s": batch.reward_s, "time_train_s": t2 - t1,
                 "time_step_s": t2 - t0,
                 "rollout_tokens_per_s": batch.generated_tokens / max(batch.rollout_s, 1e-9),
                 "train_tokens_per_s": train["train_tokens"] / max(t2 - t1, 1e-9),
                 "tokens_per_s": (batch.generated_tokens + train["train_tokens"]) / max(t2 - t0, 1e-9)}
            metrics_log.append(m)
            if on_step is not None:
                on_step(m)
            if done % config.checkpoint_every == 0 or done == config.steps:
                path = os.path.join(ckpt_dir, f"step{done}")
                saved = [p for p in saved if p != path] + [path]
                save_checkpoint(model, optimizer, scheduler, path,
                                {"step": done, "consumed": stream.consumed, "saved": saved})
                with open(os.path.join(ckpt_dir, "latest.tmp"), "w") as f:
                    f.write(f"step{done}")
                os.replace(os.path.join(ckpt_dir, "latest.tmp"), os.path.join(ckpt_dir, "latest"))
    finally:
        for a in actors:
            ray.kill(a)
        if started_ray:
            ray.shutdown()

    averaged = saved[-config.average_last:]
    hf_dir = os.path.join(out_dir, "hf")
    average_checkpoints(averaged, hf_dir)
    return {"hf_checkpoint": hf_dir, "averaged_from": averaged, "final_step": max(start, config.steps),
            "resumed_from": start,
            "checkpoints": [{"path": p, "step": int(os.path.basename(p)[4:])} for p in saved],
            "metrics": metrics_log}
