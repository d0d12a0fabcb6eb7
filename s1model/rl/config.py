"""Configs of offline RL (best-of-N SFT + difficulty filtering) and online RL, and their named recipes.

Every field has a description and a default, so the Prefect UI form is the documentation. A recipe is a function
returning a config; override fields with `model_copy(update=...)`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from s1model.rl.generate import GenerationConfig, SamplingParams
from s1model.rl.rewards import RewardConfig
from s1model.rl.rollout import RolloutConfig


class OptimConfig(BaseModel):
    """AdamW over the policy, through the DeepSpeed engine pretraining uses (or a plain torch loop)."""

    trainer: Literal["deepspeed", "torch"] = Field("deepspeed", description="deepspeed: the pretraining engine "
                                                   "(s1model.engine: ZeRO, bf16, the fast model; one or many ranks "
                                                   "through the launcher); torch: one process, plain AdamW.")
    zero_stage: Literal[1, 2, 3] = Field(1, description="DeepSpeed ZeRO stage of the RL trainer.")
    dtype: Literal["auto", "bf16", "fp32"] = Field("auto", description="Training precision under DeepSpeed; auto "
                                                   "is bf16 on CUDA and fp32 on CPU.")
    model_impl: Literal["auto", "s1", "hf"] = Field("auto", description="auto: the fast model (s1model.fast_moe) "
                                                    "for Qwen3-MoE checkpoints, transformers otherwise.")
    activation_checkpointing: bool = Field(False, description="Recompute each decoder layer in backward.")
    sharded_init: Literal["auto", "on", "off"] = Field(
        "auto", description="ZeRO-3 loading of the policy (s1model.load): on: built under deepspeed.zero.Init, each "
                            "rank reading only its slice of the checkpoint into its partitions in the training dtype; "
                            "off: the whole fp32 model on every rank, partitioned afterwards; auto: on for "
                            "zero_stage=3 with a Qwen3-MoE checkpoint.")
    offload_optimizer: Literal["none", "cpu"] = Field(
        "none", description="ZeRO-3 sharded load: this rank's fp32 master weights, Adam moments and gradients in host "
                            "memory, AdamW stepped there.")
    offload_param: Literal["none", "cpu"] = Field(
        "none", description="ZeRO-3 sharded load: the bf16 partitions in host memory too, fetched layer by layer.")
    offload_pin_memory: bool = Field(True, description="Page-locked host buffers for the offloaded states.")

    lr: float = Field(1e-6, gt=0.0, description="Peak learning rate.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up optimizer updates; constant LR afterwards.")
    weight_decay: float = Field(0.0, ge=0.0, description="Decoupled weight decay on matrices (not norms).")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW betas.")
    grad_clip: float = Field(1.0, ge=0.0, description="Clip the global gradient norm to this (0 disables).")
    micro_batch_size: int = Field(8, ge=1, description="Sequences per forward/backward.")
    max_seq_len: int = Field(4096, ge=8, description="Prompt + response tokens beyond this are cut from the left of "
                             "the prompt.")
    freeze_router: bool = Field(False, description="Keep every MoE router (mlp.gate) fixed during RL/SFT.")


class OnlineRLConfig(BaseModel):
    """Online RL: rollout → Mixture-of-Rewards → policy update, every step."""

    steps: int = Field(100, ge=1, description="Training steps (one rollout batch each).")
    seed: int = Field(0, description="Seeds the prompt order and the rollout sampling.")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Group sampling and rollout actors.")
    rewards: RewardConfig = Field(default_factory=RewardConfig, description="Mixture-of-Rewards router.")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="Optimizer of the policy.")
    loss: Literal["oreal", "grpo"] = Field("oreal", description="oreal: BC on positives + PG on negatives, global "
                                           "token normalisation, no ratio clipping; grpo: clipped surrogate with "
                                           "std-normalised group advantages.")
    positive_threshold: float = Field(1.0, description="OREAL: a sample with reward >= this is a positive.")
    neg_weight: float = Field(1.0, ge=0.0, description="OREAL: weight of the negative-sample policy gradient term.")
    grpo_clip_eps: float = Field(0.2, gt=0.0, description="GRPO: ratio clip epsilon.")
    kl_cov: bool = Field(True, description="Add the KL-Cov penalty on the highest-covariance tokens.")
    kl_cov_k: float = Field(0.2, ge=0.0, le=1.0, description="KL-Cov: fraction k of the N response tokens penalised.")
    kl_cov_beta: float = Field(0.01, ge=0.0, description="KL-Cov: penalty coefficient beta.")
    behaviour_logprobs: Literal["trainer", "rollout"] = Field(
        "trainer", description="Log-probs of the policy that sampled (GRPO ratio, KL-Cov, kl metric): trainer: "
        "recomputed by the trainer before the step's first update (the rollout engine's numerics never enter the "
        "loss); rollout: the engine's own (builtin backend only; the openai backend always uses the trainer's).")
    train_minibatches: int = Field(1, ge=1, description="Optimizer updates per rollout batch (groups split evenly).")
    grad_norm_skip: float | None = Field(50.0, description="Skip an update whose pre-clip gradient norm exceeds this "
                                         "(or is not finite); None never skips.")
    checkpoint_every: int = Field(10, ge=1, description="Save an HF checkpoint + trainer state every N steps and at "
                                  "the last step.")
    average_last: int = Field(2, ge=1, description="The final checkpoint is the mean of the last N saved ones.")
    resume: bool = Field(True, description="Continue from out_dir/checkpoints/latest when it exists.")
    ray_num_cpus: int | None = Field(None, description="num_cpus of a local Ray started here (None: all cores).")

    @model_validator(mode="after")
    def _check(self) -> "OnlineRLConfig":
        if self.rollout.prompts_per_step < self.train_minibatches:
            raise ValueError("train_minibatches must be <= rollout.prompts_per_step; lower train_minibatches.")
        return self


class OfflineRLConfig(BaseModel):
    """Offline RL: best-of-N sampling scored by the Mixture-of-Rewards, difficulty filtering, then SFT."""

    seed: int = Field(0, description="Seeds sampling and the SFT data order.")
    n_samples: int = Field(8, ge=1, description="Completions N per prompt, for best-of-N and for the pass rate.")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Sampling and rollout actors "
                                   "(group_size is replaced by n_samples).")
    rewards: RewardConfig = Field(default_factory=RewardConfig, description="Mixture-of-Rewards router.")
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(lr=1e-5), description="SFT optimizer.")
    pass_threshold: float = Field(1.0, description="A completion is verified (counts for pass@k, may be selected) "
                                  "when its reward is >= this.")
    drop_pass_rate_at_or_above: float | None = Field(1.0, description="Drop prompts whose pass rate over the N "
                                                     "samples is >= this (always solved); None keeps them.")
    drop_pass_rate_at_or_below: float | None = Field(0.25, description="Drop prompts whose pass rate is <= this "
                                                     "(almost never solved); None keeps them.")
    include_reference_traces: bool = Field(True, description="Train on sft_data's reference traces (TAIL) too.")
    best_of_n_from: Literal["all", "kept"] = Field("all", description="all: a best-of-N response of every prompt "
                                                   "with a verified sample; kept: only prompts the difficulty "
                                                   "filter keeps.")
    sft_steps: int = Field(200, ge=0, description="SFT optimizer steps (0 only selects and filters).")
    sft_batch_size: int = Field(16, ge=1, description="Sequences per SFT optimizer step.")
    checkpoint_every: int = Field(50, ge=0, description="Save the SFT trainer state every N steps, so a killed run "
                                  "resumes there (0: never; a rerun then starts SFT again).")
    ray_num_cpus: int | None = Field(None, description="num_cpus of a local Ray started here (None: all cores).")


def _tiny_rollout(group_size: int) -> RolloutConfig:
    return RolloutConfig(group_size=group_size, prompts_per_step=4, oversample=2.0, max_rounds=3,
                         sampling=SamplingParams(max_new_tokens=8, temperature=1.0, top_p=1.0, seed=0),
                         generation=GenerationConfig(max_batch_size=64), num_actors=1, actor_cpus=1.0,
                         loop_min_tokens=8)


def tiny_online() -> OnlineRLConfig:
    """CPU test size: 3 steps of 4 groups x 4 completions, 8 new tokens, one rollout actor."""
    return OnlineRLConfig(steps=3, rollout=_tiny_rollout(4), optim=OptimConfig(lr=1e-4, micro_batch_size=16,
                          max_seq_len=256), train_minibatches=2, checkpoint_every=2, average_last=2)


def tiny_offline() -> OfflineRLConfig:
    """CPU test size: 4 samples per prompt, 8 new tokens, 30 SFT steps of 16 sequences, a checkpoint every 10."""
    return OfflineRLConfig(n_samples=4, rollout=_tiny_rollout(4),
                           optim=OptimConfig(lr=3e-3, warmup_steps=3, micro_batch_size=16, max_seq_len=256),
                           sft_steps=30, sft_batch_size=16, checkpoint_every=10)


def tiny() -> tuple[OfflineRLConfig, OnlineRLConfig]:
    """The tiny recipes of both stages."""
    return tiny_offline(), tiny_online()


RECIPES = {"tiny": tiny}
