"""Offline RL: best-of-N selection scored by the Mixture-of-Rewards, difficulty filtering by pass rate, then SFT on
response tokens only (best-of-N responses + the bootcamp TAIL reference traces).

`offline_rl(config, model_dir, tokenizer_dir, rl_prompts, sft_data, out_dir)` writes into out_dir:
  best_of_n.parquet      prompt rows + the selected response, its reward, pass rate (the SFT additions)
  rl_prompts_kept.parquet  the difficulty-filtered prompt mixture for online RL (rl_prompts columns + pass_rate)
  exclusions.parquet     prompts the filter dropped: sample_id, task, data_source, reason, detail
  hf/                    the SFT'd policy (HF layout)
Drop reasons: `offline_always_solved` (pass rate >= drop_pass_rate_at_or_above), `offline_rarely_solved`
(<= drop_pass_rate_at_or_below). SFT runs on the DeepSpeed engine pretraining uses (optim.trainer="deepspeed",
s1model.rl.trainer) or a plain torch AdamW loop ("torch").
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections import defaultdict
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from s1model.rl.config import OfflineRLConfig, OptimConfig
from s1model.rl.policy import pad_batch
from s1model.rl.trainer import make_trainer
from s1model.rl.rewards import RewardResult, score_with_ray
from s1model.rl.rollout import RolloutConfig, complete_on_actors, reward_sample, start_actors

log = logging.getLogger(__name__)


def best_of_n(actors: list, rows: list[dict], score: Callable[[list[dict]], list[RewardResult]], n: int,
              rollout: RolloutConfig, pass_threshold: float = 1.0) -> list[dict]:
    """Sample n completions per prompt row on the actors, score them, and pick the best verified one.

    Returns per row: {**row, "pass_rate", "n_passed", "best_response" (None if nothing verified), "best_reward",
    "best_reason", "rewards"}. Best = highest reward >= pass_threshold, ties broken by the shortest response.
    """
    groups = complete_on_actors(actors, [r["prompt"] for r in rows], n, rollout.sampling)
    flat = [reward_sample(row, c["text"]) for row, g in zip(rows, groups) for c in g]
    results = score(flat)
    out = []
    for i, (row, comps) in enumerate(zip(rows, groups)):
        rs = results[i * n:(i + 1) * n]
        passed = [(r.score, -len(c["token_ids"]), j) for j, (c, r) in enumerate(zip(comps, rs))
                  if r.score >= pass_threshold]
        best = max(passed)[2] if passed else None
        out.append({**row, "pass_rate": len(passed) / n, "n_passed": len(passed),
                    "best_response": comps[best]["text"] if best is not None else None,
                    "best_reward": rs[best].score if best is not None else None,
                    "best_reason": rs[best].reason if best is not None else None,
                    "rewards": [r.score for r in rs]})
    return out


def difficulty_filter(scored: list[dict], at_or_above: float | None = 1.0, at_or_below: float | None = 0.25
                      ) -> tuple[list[dict], list[dict]]:
    """(kept rows, exclusion rows) by each row's pass_rate; a threshold of None turns its rule off."""
    kept, excl = [], []
    for r in scored:
        p = r["pass_rate"]
        if at_or_above is not None and p >= at_or_above:
            reason, detail = "offline_always_solved", f"pass rate {p:.3f} >= {at_or_above}"
        elif at_or_below is not None and p <= at_or_below:
            reason, detail = "offline_rarely_solved", f"pass rate {p:.3f} <= {at_or_below}"
        else:
            kept.append(r)
            continue
        excl.append({"sample_id": r.get("sample_id"), "task": r.get("task"), "data_source": r["data_source"],
                     "reason": reason, "detail": detail})
    return kept, excl


def mixture_report(scored: list[dict], kept: list[dict]) -> list[dict]:
    """Per (data_source, length_bucket): prompts, kept, dropped as always / rarely solved, mean pass rate."""
    kept_ids = {id(r) for r in kept}
    agg: dict[tuple, dict] = defaultdict(lambda: {"prompts": 0, "kept": 0, "pass_rate_sum": 0.0,
                                                  "with_verified": 0})
    for r in scored:
        a = agg[(r["data_source"], r.get("length_bucket") or "-")]
        a["prompts"] += 1
        a["kept"] += id(r) in kept_ids
        a["pass_rate_sum"] += r["pass_rate"]
        a["with_verified"] += r["n_passed"] > 0
    rows = []
    for (ds, b), a in sorted(agg.items()):
        rows.append({"data_source": ds, "length_bucket": b, "prompts": a["prompts"], "kept": a["kept"],
                     "dropped": a["prompts"] - a["kept"], "with_verified_response": a["with_verified"],
                     "mean_pass_rate": a["pass_rate_sum"] / a["prompts"]})
    return rows


def sft_train(model, pairs: list[tuple[list[int], list[int]]], optim: OptimConfig, steps: int, batch_size: int,
              pad_id: int, seed: int = 0, on_step: Callable[[dict], None] | None = None) -> list[dict]:
    """`steps` plain-torch AdamW steps of `model` (see sft_train_on)."""
    from s1model.rl.trainer import TorchTrainer

    return sft_train_on(TorchTrainer(None, optim, None, model=model), pairs, optim, steps, batch_size, pad_id, seed,
                        on_step)


def sft_train_on(trainer, pairs: list[tuple[list[int], list[int]]], optim: OptimConfig, steps: int,
                 batch_size: int, pad_id: int, seed: int = 0, on_step: Callable[[dict], None] | None = None,
                 start: int = 0, state: dict | None = None, checkpoint_every: int = 0,
                 checkpoint: Callable[[int, dict], None] | None = None) -> list[dict]:
    """`steps` optimizer steps of a PolicyTrainer (s1model.rl.trainer: DeepSpeed engine or torch) of next-token loss
    on response tokens only (token mean over the step's batch; the batch's sequences split over data-parallel
    ranks, the same order on every rank).

    Resume: `start` steps are already done and `state` is the data position the checkpoint recorded (the shuffled
    order left and the shuffler's RNG). `checkpoint(step, state)` (every rank) is called after every
    `checkpoint_every`-th step before the last; the torch global seed of each step is (seed, step, rank)."""
    from s1model.rl.online import _micro_plan, step_seed

    device = trainer.device
    rng = random.Random(seed)
    order: list[int] = []
    if state is not None:
        version, internal, gauss = state["rng"]
        rng.setstate((version, tuple(internal), gauss))
        order = list(state["order"])
    trainer.train()
    log_rows = []
    for step in range(start, steps):
        t0 = time.perf_counter()
        torch.manual_seed(step_seed(seed, step, trainer.rank))
        if len(order) < batch_size:
            perm = list(range(len(pairs)))
            rng.shuffle(perm)
            order += perm
        idx, order = order[:batch_size], order[batch_size:]
        batch = [pairs[i] for i in idx]
        n_tokens = float(sum(len(r) for _, r in batch))
        total = torch.zeros((), device=device)
        plan = _micro_plan(len(batch), trainer.rank, trainer.world_size, optim.micro_batch_size)
        for mi, sel in enumerate(plan):
            dummy = not sel
            ids, attn, tgt, resp = pad_batch([batch[i] for i in (sel or [0])], pad_id, optim.max_seq_len, device)
            logp, _ = trainer.logprobs(ids, attn, tgt)
            loss = -(logp * resp.float()).sum() / n_tokens
            if dummy:
                loss = loss * 0.0
            trainer.backward(loss, last=mi == len(plan) - 1)
            total += loss.detach()
        lr = trainer.get_lr()
        grad_norm, _ = trainer.step()
        if trainer.world_size > 1:
            torch.distributed.all_reduce(total)
        dt = time.perf_counter() - t0
        m = {"step": step + 1, "sft_loss": float(total), "grad_norm": float(grad_norm), "lr": lr,
             "tokens": n_tokens, "tokens_per_s": n_tokens / dt}
        log_rows.append(m)
        if on_step is not None and trainer.rank == 0:
            on_step(m)
        if checkpoint is not None and checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            version, internal, gauss = rng.getstate()
            checkpoint(step + 1, {"order": list(order), "rng": [version, list(internal), gauss]})
    return log_rows


def _write(rows: list[dict], path: str, schema_from: pa.Schema | None = None) -> str:
    table = pa.Table.from_pylist(rows) if rows or schema_from is None else schema_from.empty_table()
    pq.write_table(table, path)
    return path


SELECTION = "selection"  # work_dir/selection/: the best-of-N outputs and selection.json (SFT pairs, counts)
SFT_CKPT = "sft_checkpoints"  # work_dir/sft_checkpoints/: ds/step{N} (trainer state) + latest


def _load_selection(sel_dir: str) -> dict | None:
    path = os.path.join(sel_dir, "selection.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        sel = json.load(f)
    sel["pairs"] = [(p, r) for p, r in sel["pairs"]]
    return sel


def offline_rl(config: OfflineRLConfig, model_dir: str, tokenizer_dir: str, rl_prompts: pa.Table,
               sft_data: pa.Table | None, out_dir: str, on_step: Callable[[dict], None] | None = None,
               ray_address: str | None = None, work_dir: str | None = None) -> dict:
    """Best-of-N + difficulty filtering over rl_prompts, then SFT from model_dir (see module doc).

    Resumable from work_dir (default out_dir): a finished selection (work_dir/selection/) is read back, not sampled
    again; SFT continues from the last trainer checkpoint (every config.checkpoint_every steps: weights, optimizer,
    scheduler, the shuffled order and its RNG), so a run killed at any step and called again ends with the weights
    of an uninterrupted one. work_dir/metrics.jsonl holds every SFT step's metrics (re-run steps replaced).

    Returns {"hf_checkpoint", "best_of_n", "rl_prompts_kept", "exclusions" (paths in out_dir), "mixture": [rows],
    "counts": {...}, "metrics": [per-SFT-step dicts of this call], "history": [every step's], "resumed_from",
    "timings": {...}}.
    """
    import ray

    from s1data.tokenizer import load_tokenizer

    from s1model.rl.online import _latest, _write_latest, append_history, init_ray, read_history

    work = work_dir or out_dir
    sel_dir = os.path.join(work, SELECTION)
    ckpt_dir = os.path.join(work, SFT_CKPT)
    ds_dir = os.path.join(ckpt_dir, "ds")
    history_path = os.path.join(work, "metrics.jsonl")
    tok = load_tokenizer(tokenizer_dir)
    torch.manual_seed(config.seed)
    trainer = make_trainer(model_dir, config.optim)  # first: it joins the launcher's process group

    def select() -> dict:
        """Rank 0: best-of-N on Ray, the difficulty filter, the output tables, the SFT pairs; written to a temporary
        folder renamed to work_dir/selection/, so a selection that exists is complete."""
        tmp = sel_dir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        rollout = config.rollout.model_copy(update={"group_size": config.n_samples,
                                                    "sampling": config.rollout.sampling.model_copy(
                                                        update={"seed": config.seed})})
        rows = rl_prompts.to_pylist()

        t0 = time.perf_counter()
        started = init_ray(ray_address, config.ray_num_cpus)
        actors = start_actors(model_dir, tokenizer_dir, rollout)
        try:
            scored = best_of_n(actors, rows, lambda s: score_with_ray(config.rewards, s), config.n_samples, rollout,
                               config.pass_threshold)
        finally:
            for a in actors:
                ray.kill(a)
            if started:
                ray.shutdown()
        t1 = time.perf_counter()

        kept, excl = difficulty_filter(scored, config.drop_pass_rate_at_or_above, config.drop_pass_rate_at_or_below)
        source = kept if config.best_of_n_from == "kept" else scored
        chosen = [r for r in source if r["best_response"] is not None]
        keep_cols = list(rl_prompts.column_names)
        bon_rows = [{**{c: r[c] for c in keep_cols}, "response": r["best_response"], "reward": r["best_reward"],
                     "reason": r["best_reason"], "pass_rate": r["pass_rate"]} for r in chosen]
        _write(bon_rows, os.path.join(tmp, "best_of_n.parquet"))
        _write([{**{c: r[c] for c in keep_cols}, "pass_rate": r["pass_rate"]} for r in kept],
               os.path.join(tmp, "rl_prompts_kept.parquet"), rl_prompts.schema.append(pa.field("pass_rate",
                                                                                              pa.float64())))
        _write(excl, os.path.join(tmp, "exclusions.parquet"),
               pa.schema([(c, pa.string()) for c in ("sample_id", "task", "data_source", "reason", "detail")]))

        texts = [(r["prompt"], r["best_response"]) for r in chosen]
        n_ref = 0
        if config.include_reference_traces and sft_data is not None:
            refs = list(zip(sft_data.column("prompt").to_pylist(), sft_data.column("response").to_pylist()))
            texts += refs
            n_ref = len(refs)
        template = config.rollout.prompt_template
        enc_p = tok.encode_batch([template.format(prompt=p) for p, _ in texts])
        enc_r = tok.encode_batch([r for _, r in texts])
        pairs = [(p, r + [tok.eos_id]) for p, r in zip(enc_p, enc_r)]
        reasons: dict[str, int] = defaultdict(int)
        for e in excl:
            reasons[e["reason"]] += 1
        counts = {"prompts": len(rows), "kept": len(kept), "best_of_n": len(chosen), "reference_traces": n_ref,
                  "sft_sequences": len(pairs), **{f"dropped/{k}": v for k, v in reasons.items()}}
        sel = {"pairs": pairs, "counts": counts, "mixture": mixture_report(scored, kept), "best_of_n_s": t1 - t0}
        with open(os.path.join(tmp, "selection.json"), "w") as f:
            json.dump(sel, f)
        shutil.rmtree(sel_dir, ignore_errors=True)
        os.replace(tmp, sel_dir)
        return sel

    t0 = time.perf_counter()
    if trainer.rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "offline_rl_config.json"), "w") as f:
            f.write(config.model_dump_json(indent=2))
        sel = _load_selection(sel_dir)
        if sel is not None:
            log.info("offline RL: best-of-N selection read back from %s", sel_dir)
        else:
            sel = select()
    if trainer.world_size > 1:
        box = [sel if trainer.rank == 0 else None]
        torch.distributed.broadcast_object_list(box, src=0)
        sel = box[0]
    pairs = sel["pairs"]
    t1 = time.perf_counter()

    start, state = 0, None
    latest = _latest(ckpt_dir) if pairs else None
    if latest:
        state = trainer.load(ds_dir, os.path.basename(latest))
        start = int(state["step"])
        log.info("offline RL: SFT resumed from %s at step %d", latest, start)
    if trainer.rank == 0:
        read_history(history_path, upto=start)

    def checkpoint(step: int, st: dict) -> None:
        tag = f"step{step}"
        trainer.save(ds_dir, tag, {"step": step, **st})
        if trainer.world_size > 1:
            torch.distributed.barrier()
        if trainer.rank == 0:
            _write_latest(ckpt_dir, tag)
            for old in os.listdir(ds_dir):  # only the latest is needed to resume
                if old.startswith("step") and old != tag and os.path.isdir(os.path.join(ds_dir, old)):
                    shutil.rmtree(os.path.join(ds_dir, old), ignore_errors=True)

    def logged(m: dict) -> None:
        append_history(history_path, m)
        if on_step is not None:
            on_step(m)

    metrics = sft_train_on(trainer, pairs, config.optim, config.sft_steps, config.sft_batch_size, tok.pad_id,
                           config.seed, logged, start=start, state=state, checkpoint_every=config.checkpoint_every,
                           checkpoint=checkpoint) if pairs else []
    t2 = time.perf_counter()
    hf_dir = trainer.export_hf(os.path.join(out_dir, "hf"))
    paths = {}
    for name in ("best_of_n", "rl_prompts_kept", "exclusions"):
        paths[name] = os.path.join(out_dir, f"{name}.parquet")
        if trainer.rank == 0 and os.path.abspath(sel_dir) != os.path.abspath(out_dir):
            shutil.copy2(os.path.join(sel_dir, f"{name}.parquet"), paths[name])
    return {"hf_checkpoint": hf_dir, **paths, "mixture": sel["mixture"], "counts": sel["counts"],
            "metrics": metrics, "history": read_history(history_path) if trainer.rank == 0 else [],
            "resumed_from": start, "timings": {"best_of_n_s": sel["best_of_n_s"], "sft_s": t2 - t1,
                                               "total_s": t2 - t0},
            "trainer": trainer.kind}
