"""Online RL: `online_rl(config, model_dir, tokenizer_dir, prompts, out_dir)`.

Each step: push the policy's weights to the Ray rollout actors (builtin: through Ray's object store; openai: an HF
checkpoint the server loads with `update_weights_from_disk`, verified by hash) → collect a batch of groups
(oversampled, filtered, rewards from Ray reward tasks) → `train_minibatches` updates with the OREAL or GRPO loss
(+ KL-Cov), each skipped if its pre-clip gradient norm exceeds `grad_norm_skip` → metrics. Training runs on the
DeepSpeed engine (s1model.rl.trainer; ZeRO 1-3, one or many ranks) or a plain torch AdamW loop (optim.trainer).

Layout of out_dir: checkpoints/step{N}/ (HF + trainer_state.json, or trainer_state.pt for the torch trainer),
checkpoints/ds/step{N}/ (DeepSpeed engine state), checkpoints/latest, hf/ (mean of the last `average_last`
checkpoints), online_rl_config.json, serve_weights/ (openai backend: the checkpoint the server loads).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections import defaultdict
from typing import Callable, Iterator

import pyarrow as pa
import torch

from s1model.rl import losses
from s1model.rl.config import OnlineRLConfig
from s1model.rl.policy import TRAINER_STATE, align_behaviour_logprobs, average_checkpoints, pad_batch, save_checkpoint
from s1model.rl.rewards import score_with_ray
from s1model.rl.rollout import RolloutBatch, collect_batch, require_weight_sync, start_actors

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


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The torch global seed of one training step on one rank: anything drawing from the global RNG (dropout) is a
    pure function of (seed, step, rank), so a resumed run draws what the uninterrupted one drew."""
    return (seed * 1_000_003 + step) * 131 + rank


def read_history(path: str, upto: int | None = None) -> list[dict]:
    """Per-step metrics from a metrics.jsonl (one JSON object per line, "step" in each); with `upto`, the file is
    cut to steps <= upto first (a resumed run re-runs the later ones), atomically. A torn last line is dropped."""
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    break
    if upto is not None:
        rows = [r for r in rows if int(r["step"]) <= upto]
        with open(path + ".tmp", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        os.replace(path + ".tmp", path)
    return rows


def append_history(path: str, m: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(m) + "\n")
        f.flush()


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
    """`train_minibatches` plain-torch AdamW updates of `model` on the kept groups (see train_groups)."""
    from s1model.rl.trainer import TorchTrainer

    trainer = TorchTrainer(None, config.optim, config.grad_norm_skip, model=model, optimizer=optimizer,
                           scheduler=scheduler)
    return train_groups(trainer, groups, config, pad_id)


def _minibatch(mgroups: list[dict]) -> tuple[list, list, list, list]:
    pairs, lps, rewards, gids = [], [], [], []
    for k, g in enumerate(mgroups):
        for c, r in zip(g["completions"], g["rewards"]):
            pairs.append((c["prompt_ids"], c["token_ids"]))
            lps.append(c["logprobs"])
            rewards.append(r.score)
            gids.append(k)
    return pairs, lps, rewards, gids


def _micro_plan(n: int, rank: int, world_size: int, mbs: int) -> list[list[int]]:
    """This rank's micro-batches (indices into the minibatch's sequences); every rank gets the same number of
    micro-batches (an empty one is run as a zero-weight dummy, so the ranks' gradient reductions line up)."""
    from s1model.rl.trainer import shard_for_rank

    mine = shard_for_rank(list(range(n)), rank, world_size)
    n_micro = max(1, math.ceil(math.ceil(n / world_size) / mbs))
    return [mine[m * mbs:(m + 1) * mbs] for m in range(n_micro)]


def train_groups(trainer, groups: list[dict], config: OnlineRLConfig, pad_id: int) -> dict:
    """`train_minibatches` optimizer updates of a PolicyTrainer (s1model.rl.trainer) on the kept groups; returns loss,
    entropy, KL, grad norms, skips. The sequences of an update are split over the trainer's data-parallel ranks;
    losses are token sums over global token counts. Behaviour log-probs (GRPO ratio, KL-Cov, kl) come from the
    trainer (config.behaviour_logprobs="trainer": one no-grad pass before the first update when there are several,
    else the update's own log-probs detached) or from the rollout engine ("rollout")."""
    device = trainer.device
    opt = config.optim
    rank, ws = trainer.rank, trainer.world_size
    mbs = opt.micro_batch_size
    minibatches = [_minibatch(groups[i::config.train_minibatches]) for i in range(config.train_minibatches)]
    plans = [_micro_plan(len(mb[0]), rank, ws, mbs) for mb in minibatches]
    pre_old: dict[tuple[int, int], torch.Tensor] = {}
    if config.behaviour_logprobs == "trainer" and len(minibatches) > 1:  # the policy before any update of the step
        with torch.no_grad():
            for bi, ((pairs, _, _, _), plan) in enumerate(zip(minibatches, plans)):
                for mi, sel in enumerate(plan):
                    if sel:
                        ids, attn, tgt, _ = pad_batch([pairs[i] for i in sel], pad_id, opt.max_seq_len, device)
                        pre_old[(bi, mi)] = trainer.logprobs(ids, attn, tgt)[0].detach()
    stats = defaultdict(float)
    n_updates = skipped = 0
    sums = torch.zeros(5, device=device)  # loss, entropy sum, k3 sum, selected tokens, tokens (this rank)
    for bi, ((pairs, lps, rewards, gids), plan) in enumerate(zip(minibatches, plans)):
        if not pairs:  # fewer kept groups than train_minibatches: every rank skips the same empty minibatch
            continue
        rewards_B = torch.tensor(rewards, device=device)
        gids_B = torch.tensor(gids, device=device)
        adv_B = losses.group_advantages(rewards_B, gids_B, scale_by_std=config.loss == "grpo")
        lens = torch.tensor([len(p[1]) for p in pairs], dtype=torch.float32)
        pos = rewards_B.cpu() >= config.positive_threshold
        n_tokens, n_pos = float(lens.sum()), float(lens[pos].sum())
        n_neg = n_tokens - n_pos
        trainer.train()
        mb_sums = torch.zeros(5, device=device)
        for mi, sel in enumerate(plan):
            dummy = not sel
            sel = sel or [0]
            ids, attn, tgt, resp = pad_batch([pairs[i] for i in sel], pad_id, opt.max_seq_len, device)
            logp, ent = trainer.logprobs(ids, attn, tgt)
            if config.behaviour_logprobs == "rollout" and all(lps[i] for i in sel):
                old = align_behaviour_logprobs([lps[i] for i in sel], resp)
            elif (bi, mi) in pre_old:
                old = pre_old[(bi, mi)]
            else:  # one update per rollout batch: the policy before it is the one computing logp
                old = logp.detach()
            idx = torch.tensor(sel, device=device)
            a, r = adv_B[idx], rewards_B[idx]
            if config.loss == "oreal":
                loss = losses.oreal_loss(logp, resp, r, a, n_pos, n_neg, config.positive_threshold,
                                         config.neg_weight)
            else:
                loss = losses.grpo_loss(logp, old, resp, a, n_tokens, config.grpo_clip_eps)
            n_sel = 0.0
            if config.kl_cov:
                pen, chosen = losses.kl_cov_penalty(logp, old, resp, a, n_tokens, config.kl_cov_k,
                                                    config.kl_cov_beta)
                loss = loss + pen
                n_sel = float(chosen.sum())
            if dummy:
                loss = loss * 0.0
            trainer.backward(loss, last=mi == len(plan) - 1)
            if not dummy:
                m = resp.float()
                d = (logp.detach() - old)
                mb_sums += torch.stack([loss.detach(), (ent.detach() * m).sum(), ((torch.exp(d) - d - 1) * m).sum(),
                                        torch.tensor(n_sel, device=device), m.sum()])
        grad_norm, skip = trainer.step()
        if skip:
            skipped += 1
        else:
            n_updates += 1
        if ws > 1:
            torch.distributed.all_reduce(mb_sums)
        tok = float(mb_sums[4].clamp(min=1))
        stats["loss"] += float(mb_sums[0]) / len(minibatches)
        stats["entropy"] += float(mb_sums[1]) / tok / len(minibatches)
        stats["kl"] += float(mb_sums[2]) / tok / len(minibatches)
        stats["kl_cov_selected_share"] += float(mb_sums[3]) / tok / len(minibatches)
        stats["grad_norm"] = max(stats["grad_norm"], grad_norm)
        stats["train_tokens"] += tok
        sums += mb_sums
    stats["updates"] = float(n_updates)
    stats["skipped_updates"] = float(skipped)
    return dict(stats)


def _write_latest(ckpt_dir: str, tag: str) -> None:
    with open(os.path.join(ckpt_dir, "latest.tmp"), "w") as f:
        f.write(tag)
    os.replace(os.path.join(ckpt_dir, "latest.tmp"), os.path.join(ckpt_dir, "latest"))


def _push(actors: list, trainer, config: OnlineRLConfig, out_dir: str, step: int, policy_dir: str | None) -> int:
    """Give the rollout actors the trainer's current policy (collective: every rank calls it); returns the version.

    builtin: the HF state_dict through Ray's object store. openai: an HF checkpoint on disk (policy_dir as is, else
    exported), loaded by the server (`update_weights_from_disk`) as weight_version str(step) and checked by hash."""
    from s1model.rl.rollout import push_weights, push_weights_from_disk

    if config.rollout.generation.backend != "openai":
        state = trainer.hf_state_dict()
        if actors:
            push_weights(actors, state)
        return step  # the policy after `step` updates, however many pushes this process made (resume)
    if policy_dir is None:
        policy_dir = os.path.join(out_dir, "serve_weights", f"step{step}")
        trainer.export_hf(policy_dir)
    if not actors:
        return step
    from s1model.serve import weights_sha256

    push_weights_from_disk(actors, policy_dir, weights_sha256(policy_dir), step)
    old = os.path.join(out_dir, "serve_weights", f"step{step - 1}")
    if os.path.isdir(old):  # the server has moved on to this step's weights
        shutil.rmtree(old, ignore_errors=True)
    return step


def online_rl(config: OnlineRLConfig, model_dir: str, tokenizer_dir: str, prompts: pa.Table, out_dir: str,
              on_step: Callable[[dict], None] | None = None, ray_address: str | None = None) -> dict:
    """Run config.steps RL steps from the HF checkpoint model_dir on the rl_prompts rows; resume from out_dir.

    Training goes through config.optim.trainer (the DeepSpeed engine by default; on every rank of the `deepspeed`
    launcher, rank 0 driving the rollouts and broadcasting the batch). With the openai rollout backend the server
    must take weight updates (`update_weights_from_disk`): checked at start, and after every push the served weights
    are verified and samples of another version are refused (s1model.rl.rollout.WeightSyncError).

    Returns {"hf_checkpoint", "checkpoints": [{"path", "step"}], "averaged_from", "final_step", "resumed_from",
    "metrics": [per-step dicts of this run], "history": [every step's dict, 1..final_step, earlier attempts
    included]}. `on_step(metrics)` is called after every step (rank 0); out_dir/metrics.jsonl holds the history.

    Resume (kill -9 at any step, then the same call): weights, optimizer, scheduler and step from the last
    checkpoint; the prompt position from its `consumed`; rollout sampling seeded by (seed, step, round); the torch
    global seed by (seed, step, rank); steps after the checkpoint are re-run and their history lines replaced.
    """
    from s1data.tokenizer import load_tokenizer

    from s1model.rl.trainer import STATE_JSON, make_trainer

    ckpt_dir = os.path.join(out_dir, "checkpoints")
    ds_dir = os.path.join(ckpt_dir, "ds")
    os.makedirs(ckpt_dir, exist_ok=True)
    torch.manual_seed(config.seed)
    tok = load_tokenizer(tokenizer_dir)

    start, consumed, saved = 0, 0, []
    latest = _latest(ckpt_dir) if config.resume else None
    policy_dir = latest or model_dir
    engine = config.optim.trainer == "deepspeed"
    # a resume on the engine overwrites the weights from its checkpoint: the sharded load then skips reading them
    trainer = make_trainer(model_dir if engine else policy_dir, config.optim, config.grad_norm_skip,
                           load_weights=not (latest and engine))
    rank = trainer.rank
    if rank == 0:
        with open(os.path.join(out_dir, "online_rl_config.json"), "w") as f:
            f.write(config.model_dump_json(indent=2))
    if latest and engine:
        client = trainer.load(ds_dir, os.path.basename(latest))
        start, consumed, saved = client["step"], client["consumed"], client["saved"]
        log.info("resumed online RL (DeepSpeed) from %s at step %d", latest, start)
    elif latest:
        st = torch.load(os.path.join(latest, TRAINER_STATE), map_location="cpu", weights_only=True)
        trainer.optimizer.load_state_dict(st["optimizer"])
        trainer.scheduler.load_state_dict(st["scheduler"])
        start, consumed, saved = st["step"], st["consumed"], st["saved"]
        log.info("resumed online RL from %s at step %d", latest, start)
    stream = PromptStream(prompts.to_pylist(), config.seed, consumed)
    history_path = os.path.join(out_dir, "metrics.jsonl")
    if rank == 0:
        read_history(history_path, upto=start)  # steps after the checkpoint are re-run and re-logged

    actors: list = []
    started_ray = False
    openai = config.rollout.generation.backend == "openai"
    metrics_log: list[dict] = []
    try:
        if rank == 0:
            import ray

            started_ray = init_ray(ray_address, config.ray_num_cpus)
            actors = start_actors(policy_dir, tokenizer_dir, config.rollout)
            if openai:  # a server that cannot take new weights fails here, never silently later
                require_weight_sync(actors)
        for step in range(start, config.steps):
            t0 = time.perf_counter()
            torch.manual_seed(step_seed(config.seed, step, rank))
            if openai:
                version = _push(actors, trainer, config, out_dir, step, policy_dir if step == start else None)
            else:
                # the actors started from policy_dir (the checkpoint of step `start`): no push before the first step
                version = _push(actors, trainer, config, out_dir, step, None) if step > start else step
            batch = None
            if rank == 0:
                batch = collect_batch(actors, stream, lambda s: score_with_ray(config.rewards, s), config.rollout,
                                      seed=config.seed * 100003 + step)
            if trainer.world_size > 1:
                box = [batch.groups if batch is not None else None]
                torch.distributed.broadcast_object_list(box, src=0)
                groups = box[0]
            else:
                groups = batch.groups
            t1 = time.perf_counter()
            train = {"updates": 0.0, "skipped_updates": 0.0, "train_tokens": 0.0}
            if groups:
                train = train_groups(trainer, groups, config, tok.pad_id)
            elif rank == 0:
                log.warning("step %d: no group with a learning signal after %d rounds; no update", step + 1,
                            batch.rounds)
            t2 = time.perf_counter()
            done = step + 1
            if rank == 0:
                m = {"step": done, **_step_metrics(batch), **train,
                     "lr": trainer.get_lr(), "weight_version": float(version),
                     "time_rollout_s": batch.rollout_s, "time_reward_s": batch.reward_s, "time_train_s": t2 - t1,
                     "time_step_s": t2 - t0,
                     "rollout_tokens_per_s": batch.generated_tokens / max(batch.rollout_s, 1e-9),
                     "train_tokens_per_s": train["train_tokens"] / max(t2 - t1, 1e-9),
                     "tokens_per_s": (batch.generated_tokens + train["train_tokens"]) / max(t2 - t0, 1e-9)}
                metrics_log.append(m)
                append_history(history_path, m)
                if on_step is not None:
                    on_step(m)
            if done % config.checkpoint_every == 0 or done == config.steps:
                path = os.path.join(ckpt_dir, f"step{done}")
                saved = [p for p in saved if p != path] + [path]
                if trainer.world_size > 1:  # rank 0's prompt stream is the one that advanced
                    box = [stream.consumed]
                    torch.distributed.broadcast_object_list(box, src=0)
                    stream.consumed = box[0]
                state = {"step": done, "consumed": stream.consumed, "saved": saved}
                if engine:
                    trainer.save(ds_dir, f"step{done}", state)
                    trainer.export_hf(path)
                    if rank == 0:
                        with open(os.path.join(path, STATE_JSON), "w") as f:
                            json.dump(state, f)
                else:
                    save_checkpoint(trainer.model, trainer.optimizer, trainer.scheduler, path, state)
                if rank == 0:
                    _write_latest(ckpt_dir, f"step{done}")
    finally:
        if actors:
            import ray

            for a in actors:
                ray.kill(a)
        if started_ray:
            import ray

            ray.shutdown()

    averaged = saved[-config.average_last:]
    hf_dir = os.path.join(out_dir, "hf")
    if rank == 0:
        average_checkpoints(averaged, hf_dir)
    if trainer.world_size > 1:
        torch.distributed.barrier()
    return {"hf_checkpoint": hf_dir, "averaged_from": averaged, "final_step": max(start, config.steps),
            "resumed_from": start, "trainer": trainer.kind,
            "checkpoints": [{"path": p, "step": int(os.path.basename(p)[4:])} for p in saved],
            "metrics": metrics_log, "history": read_history(history_path) if rank == 0 else []}
