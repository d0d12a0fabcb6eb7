"""Rollouts on Ray: actors holding a policy copy, groups of G completions per prompt, and the oversampling loop.

One step: draw prompts (oversampled) → actors generate G completions per prompt → Ray reward tasks score them →
drop outputs that are garbled or looping, then groups whose remaining rewards are all equal (no learning signal) →
repeat with fresh prompts until `prompts_per_step` groups are kept or `max_rounds` rounds are spent.
Drop reasons: `rollout_looping`, `rollout_garbled` (outputs), `rollout_all_equal_rewards`, `rollout_too_few_outputs`
(groups).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from pydantic import BaseModel, Field

from s1model.rl.generate import (Completion, GenerationConfig, OpenAICompletionsClient, SamplingParams, WeightSyncError,
                                 generate)

log = logging.getLogger(__name__)


class RolloutConfig(BaseModel):
    """Group sampling, oversampling and the rollout actors."""

    group_size: int = Field(8, ge=2, description="Completions G per prompt.")
    prompts_per_step: int = Field(16, ge=1, description="Groups kept per training step (the batch).")
    oversample: float = Field(2.0, ge=1.0, description="Each round draws ceil(missing groups x oversample) prompts.")
    max_rounds: int = Field(4, ge=1, description="Oversampling rounds per step; a step trains on what it has after "
                            "the last round (and is skipped if nothing was kept).")
    sampling: SamplingParams = Field(default_factory=SamplingParams, description="Sampling of rollouts.")
    generation: GenerationConfig = Field(default_factory=GenerationConfig, description="Rollout backend.")
    prompt_template: str = Field("{prompt}\n", description="Text the model sees before its response; SFT uses the "
                                 "same template.")
    num_actors: int = Field(1, ge=1, description="Rollout actors (each holds a model copy).")
    actor_cpus: float = Field(1.0, ge=0.0, description="CPUs one rollout actor reserves in Ray.")
    actor_gpus: float = Field(0.0, ge=0.0, description="GPUs one rollout actor reserves (0: runs on CPU).")
    actor_threads: int = Field(1, ge=1, description="torch intra-op threads inside a CPU rollout actor.")
    pass_threshold: float = Field(1.0, description="A completion passes when its reward is >= this.")
    loop_max_period: int = Field(16, ge=1, description="Longest token period checked for a looping tail.")
    loop_min_tokens: int = Field(32, ge=2, description="A response that hit max_new_tokens and whose tail repeats one "
                                 "period over at least this many tokens (>= 3 periods) is dropped as looping.")
    garbled_max_fraction: float = Field(0.3, ge=0.0, le=1.0, description="Drop a response whose text is more than "
                                        "this fraction of U+FFFD / control characters.")
    truncated_score: float | None = Field(0.0, description="A completion that hit max_new_tokens without EOS scores "
                                          "at most this (reason rollout_truncated), so the policy cannot learn to "
                                          "trail junk after a verified answer; None keeps the judge's score.")


# --- output defects ------------------------------------------------------------------------------------------------

def looping_period(token_ids: list[int], max_period: int, min_tokens: int) -> int | None:
    """Smallest period p <= max_period such that the tail repeats p over >= max(min_tokens, 3p) tokens, else None."""
    n = len(token_ids)
    for p in range(1, max_period + 1):
        span = p
        while span < n and token_ids[n - 1 - span] == token_ids[n - 1 - span + p]:
            span += 1
        if span >= max(min_tokens, 3 * p):
            return p
    return None


def output_defect(completion: Completion, text: str, config: RolloutConfig) -> str | None:
    """`rollout_looping`, `rollout_garbled` or None."""
    if completion.finish_reason == "length" and looping_period(completion.token_ids, config.loop_max_period,
                                                               config.loop_min_tokens) is not None:
        return "rollout_looping"
    if text:
        bad = sum(ch == "\ufffd" or (ord(ch) < 32 and ch not in "\n\t\r") for ch in text)
        if bad / len(text) > config.garbled_max_fraction:
            return "rollout_garbled"
    return None


# --- the actor -----------------------------------------------------------------------------------------------------

class RolloutWorker:
    """A policy copy that completes prompts; `ray.remote(RolloutWorker)` is the rollout actor."""

    def __init__(self, model_dir: str, tokenizer_dir: str, config: RolloutConfig):
        from s1data.tokenizer import load_tokenizer

        self.config = config
        self.tokenizer = load_tokenizer(tokenizer_dir)
        self.version = 0
        self.model = None
        self.client = None
        self.served_sha256: str | None = None  # openai backend: the weights the server must be answering with
        if config.generation.backend == "openai":
            self.client = OpenAICompletionsClient(config.generation)
            return
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(config.actor_threads)
        self.device = "cuda" if config.actor_gpus > 0 and torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(self.device).eval()

    def update_weights(self, state_dict: dict[str, torch.Tensor]) -> int:
        """Load fresh policy weights (HF names); returns the new weight version. The openai backend's server owns
        its weights: it takes them from disk (update_weights_from_disk), never silently from here."""
        if self.client is not None:
            raise WeightSyncError("the openai rollout backend cannot take a state_dict: write an HF checkpoint and "
                                  "call update_weights_from_disk(model_path, weights_sha256)")
        self.model.load_state_dict(state_dict, strict=True)
        self.version += 1
        return self.version

    def require_weight_sync(self) -> dict:
        """openai backend: fail now unless the server can take new weights (see OpenAICompletionsClient)."""
        if self.client is None:
            return {"weight_version": str(self.version)}
        info = self.client.require_weight_sync()
        return info

    def update_weights_from_disk(self, model_path: str, weights_sha256: str, version: int, reload: bool = True
                                 ) -> int:
        """Make the HF checkpoint in model_path the policy, as `version`. openai: the server loads it (reload=False:
        another actor sharing the server already asked) and must then report that version and hash; every later
        response that names other weights is refused. builtin: the actor loads the files itself."""
        if self.client is None:
            from transformers import AutoModelForCausalLM

            fresh = AutoModelForCausalLM.from_pretrained(model_path, dtype=next(self.model.parameters()).dtype)
            self.model.load_state_dict(fresh.state_dict(), strict=True)
        elif reload:
            self.client.update_weights_from_disk(model_path, str(version), weights_sha256)
        self.version, self.served_sha256 = version, weights_sha256
        return version

    def _check_served(self, meta: dict) -> None:
        fp, wv = meta.get("system_fingerprint"), meta.get("weight_version")
        if self.served_sha256 and fp and fp != self.served_sha256:
            raise WeightSyncError(f"refusing samples of a stale policy: the server answered with weights {fp[:12]}, "
                                  f"the trainer's are {self.served_sha256[:12]} (version {self.version})")
        if self.served_sha256 and wv is not None and str(wv) != str(self.version):
            raise WeightSyncError(f"refusing samples of a stale policy: the server answered as weight_version {wv}, "
                                  f"the trainer pushed {self.version}")

    def complete(self, prompts: list[str], n: int, sampling: SamplingParams) -> list[list[dict]]:
        """n completions per prompt text: dicts {prompt_ids, token_ids, logprobs, finish_reason, text, version}."""
        texts = [self.config.prompt_template.format(prompt=p) for p in prompts]
        if self.client is not None:
            out = []
            groups, meta = self.client.complete_with_meta(texts, n, sampling)
            self._check_served(meta)
            for p_text, comps in zip(texts, groups):
                p_ids = self.tokenizer.encode(p_text)
                out.append([Completion(p_ids, list(ids) if ids is not None else self.tokenizer.encode(t) + (
                    [self.tokenizer.eos_id] if r == "eos" else []), [], r, t) for t, r, ids in comps])
        else:
            ids = self.tokenizer.encode_batch(texts)
            flat = generate(self.model, [p for p in ids for _ in range(n)], sampling, self.tokenizer.eos_id,
                            self.tokenizer.pad_id, self.config.generation.max_batch_size)
            out = [flat[i * n:(i + 1) * n] for i in range(len(prompts))]
        result = []
        for group in out:
            rows = []
            for c in group:
                body = c.token_ids[:-1] if c.finish_reason == "eos" else c.token_ids
                text = c.text if c.text is not None else self.tokenizer.decode(body)
                rows.append({"prompt_ids": c.prompt_ids, "token_ids": c.token_ids, "logprobs": c.logprobs,
                             "finish_reason": c.finish_reason, "text": text, "version": self.version})
            result.append(rows)
        return result


def start_actors(model_dir: str, tokenizer_dir: str, config: RolloutConfig) -> list:
    """config.num_actors Ray rollout actors (Ray must be initialised)."""
    import ray

    cls = ray.remote(RolloutWorker)
    return [cls.options(num_cpus=config.actor_cpus, num_gpus=config.actor_gpus).remote(model_dir, tokenizer_dir, config)
            for _ in range(config.num_actors)]


def push_weights(actors: list, state_dict: dict[str, torch.Tensor]) -> list[int]:
    """Put the weights in the object store once and load them into every actor; returns their versions."""
    import ray

    ref = ray.put({k: v.detach().to("cpu") for k, v in state_dict.items()})
    return ray.get([a.update_weights.remote(ref) for a in actors])


def require_weight_sync(actors: list) -> None:
    """Every actor's rollout server can take new weights, else WeightSyncError (one line) now."""
    import ray

    for a in actors:
        if isinstance(a, RolloutWorker):
            a.require_weight_sync()
        else:
            try:
                ray.get(a.require_weight_sync.remote())
            except ray.exceptions.RayTaskError as e:
                cause = e.as_instanceof_cause()
                raise WeightSyncError(str(cause).strip().splitlines()[-1]) from None


def push_weights_from_disk(actors: list, model_path: str, weights_sha256: str, version: int) -> list[int]:
    """The HF checkpoint in model_path becomes every actor's policy `version`; the first actor asks its server to
    reload (actors of the openai backend share one server), the others only expect the new version and hash."""
    import ray

    out, refs = [], []
    for i, a in enumerate(actors):
        if isinstance(a, RolloutWorker):
            out.append(a.update_weights_from_disk(model_path, weights_sha256, version, reload=i == 0))
        else:
            refs.append(a.update_weights_from_disk.remote(model_path, weights_sha256, version, i == 0))
            if i == 0:
                out.extend(ray.get(refs))
                refs = []
    return out + (ray.get(refs) if refs else [])


def complete_on_actors(actors: list, prompts: list[str], n: int, sampling: SamplingParams) -> list[list[dict]]:
    """Split prompts evenly over the actors (each actor gets its own sampling seed); results in prompt order.

    An actor is a Ray actor handle, or a plain in-process `RolloutWorker` (one GPU, no Ray: benchmarks, debugging).
    """
    k = len(actors)
    share = math.ceil(len(prompts) / k) if prompts else 0
    results, remote = [], []  # remote: (index in results, Ray ref), fetched in one ray.get
    for i, actor in enumerate(actors):
        part = prompts[i * share:(i + 1) * share]
        if part:
            seed = None if sampling.seed is None else sampling.seed * 1009 + i
            s = sampling.model_copy(update={"seed": seed})
            if isinstance(actor, RolloutWorker):
                results.append(actor.complete(part, n, s))
            else:
                remote.append((len(results), actor.complete.remote(part, n, s)))
                results.append(None)
    if remote:
        import ray

        for (j, _), chunk in zip(remote, ray.get([ref for _, ref in remote])):
            results[j] = chunk
    return [g for chunk in results for g in chunk]


# --- the oversampling loop -----------------------------------------------------------------------------------------

@dataclass
class RolloutBatch:
    """Kept groups plus what every sampled completion scored (for metrics) and where the time went."""

    groups: list[dict] = field(default_factory=list)  # {"row", "completions": [dict], "rewards": [RewardResult]}
    samples: list[dict] = field(default_factory=list)  # one light record per sampled completion
    drops: dict[str, int] = field(default_factory=dict)
    groups_sampled: int = 0
    groups_filtered: int = 0  # dropped for a defect or equal rewards (surplus groups of the last round are not)
    rounds: int = 0
    rollout_s: float = 0.0
    reward_s: float = 0.0
    generated_tokens: int = 0

    @property
    def filtered_group_share(self) -> float:
        return self.groups_filtered / self.groups_sampled if self.groups_sampled else 0.0


def reward_sample(row: dict, text: str) -> dict:
    """The sample a judge sees: the prompt row's routing fields plus the response text."""
    return {"data_source": row["data_source"], "task": row.get("task"), "identity_json": row.get("identity_json"),
            "prompt": row.get("prompt"), "reference": row.get("reference"), "response": text}


def collect_batch(actors: list, prompts: Iterator[dict], score: Callable[[list[dict]], list], config: RolloutConfig,
                  seed: int = 0) -> RolloutBatch:
    """Oversample prompts until config.prompts_per_step groups with a learning signal are kept (see module doc).

    prompts: an endless iterator of rl_prompts rows (dicts); score: samples -> [RewardResult] (e.g. score_with_ray).
    """
    batch = RolloutBatch()
    need = config.prompts_per_step
    for rnd in range(config.max_rounds):
        missing = need - len(batch.groups)
        if missing <= 0:
            break
        rows = [next(prompts) for _ in range(math.ceil(missing * config.oversample))]
        batch.rounds += 1
        t0 = time.perf_counter()
        sampling = config.sampling.model_copy(update={"seed": None if config.sampling.seed is None
                                                      else config.sampling.seed + seed * 101 + rnd})
        groups = complete_on_actors(actors, [r["prompt"] for r in rows], config.group_size, sampling)
        t1 = time.perf_counter()
        flat = [reward_sample(row, c["text"]) for row, g in zip(rows, groups) for c in g]
        results = cap_truncated(score(flat), [c for g in groups for c in g], config.truncated_score)
        batch.reward_s += time.perf_counter() - t1
        batch.rollout_s += t1 - t0
        batch.groups_sampled += len(rows)
        for gi, (row, comps) in enumerate(zip(rows, groups)):
            rewards = results[gi * config.group_size:(gi + 1) * config.group_size]
            kept_c, kept_r = [], []
            for c, r in zip(comps, rewards):
                batch.generated_tokens += len(c["token_ids"])
                defect = output_defect_from_dict(c, config)
                batch.samples.append({"data_source": row["data_source"], "task": row.get("task"),
                                      "length_bucket": row.get("length_bucket"), "reward": r.score,
                                      "passed": r.score >= config.pass_threshold, "n_tokens": len(c["token_ids"]),
                                      "reason": r.reason, "defect": defect})
                if defect:
                    batch.drops[defect] = batch.drops.get(defect, 0) + 1
                    continue
                kept_c.append(c)
                kept_r.append(r)
            if len(kept_r) < 2:
                why = "rollout_too_few_outputs"
            elif len({r.score for r in kept_r}) == 1:
                why = "rollout_all_equal_rewards"
            else:
                why = None
            if why:
                batch.drops[why] = batch.drops.get(why, 0) + 1
                batch.groups_filtered += 1
            elif len(batch.groups) < need:
                batch.groups.append({"row": row, "completions": kept_c, "rewards": kept_r})
            else:
                batch.drops["rollout_surplus"] = batch.drops.get("rollout_surplus", 0) + 1
    return batch


def cap_truncated(results: list, completions: list[dict], cap: float | None) -> list:
    """Results with the score of every completion that ran out of tokens (finish_reason "length") capped at cap."""
    if cap is None:
        return results
    from s1model.rl.rewards import RewardResult

    return [RewardResult(min(r.score, cap), "rollout", "rollout_truncated", f"judge: {r.reason} {r.score:.3g}",
                         r.data_source) if c["finish_reason"] == "length" and r.score > cap else r
            for r, c in zip(results, completions)]


def output_defect_from_dict(c: dict, config: RolloutConfig) -> str | None:
    comp = Completion(c["prompt_ids"], c["token_ids"], c["logprobs"], c["finish_reason"])
    return output_defect(comp, c["text"], config)
