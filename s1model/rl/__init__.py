"""Post-training: offline RL (best-of-N SFT + difficulty filtering) and online RL (OREAL/GRPO, KL-Cov) with a
Mixture-of-Rewards, on Ray rollout actors and reward tasks. See docs/rl.md.

Public API::

    offline_rl(config: OfflineRLConfig, model_dir, tokenizer_dir, rl_prompts, sft_data, out_dir, on_step=None,
               ray_address=None) -> dict
    online_rl(config: OnlineRLConfig, model_dir, tokenizer_dir, prompts, out_dir, on_step=None,
              ray_address=None) -> dict
    OfflineRLConfig, OnlineRLConfig, tiny_offline(), tiny_online(), tiny()
    RewardRouter, RewardConfig, JudgeRoute, RewardResult, score_with_ray
    generate(model, prompts, SamplingParams, eos_id, pad_id, max_batch_size), GenerationConfig
"""

from s1model.rl.config import OfflineRLConfig, OnlineRLConfig, OptimConfig, tiny, tiny_offline, tiny_online
from s1model.rl.generate import GenerationConfig, SamplingParams, generate
from s1model.rl.offline import offline_rl
from s1model.rl.online import online_rl
from s1model.rl.rewards import JudgeRoute, RewardConfig, RewardResult, RewardRouter, score_with_ray
from s1model.rl.rollout import RolloutConfig

__all__ = ["GenerationConfig", "JudgeRoute", "OfflineRLConfig", "OnlineRLConfig", "OptimConfig", "RewardConfig",
           "RewardResult", "RewardRouter", "RolloutConfig", "SamplingParams", "generate", "offline_rl", "online_rl",
           "score_with_ray", "tiny", "tiny_offline", "tiny_online"]
