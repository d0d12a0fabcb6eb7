"""DeepSpeed glue: the ds_config a PretrainConfig implies, the optimizer and WSD scheduler, and the engine.

Expert parallelism is DeepSpeed AutoEP (`expert_parallel` section, preset `qwen3_moe`): at `deepspeed.initialize`
each HF `Qwen3MoeSparseMoeBlock` becomes an `AutoEPMoELayer` (router + grouped experts w1/w3/w2) holding
E / ep_size experts per rank, with all-to-all token dispatch. It works on CPU with gloo (ZeRO 0-3 tried).
"""

from __future__ import annotations

import functools

import torch

from s1model.config import PretrainConfig
from s1model.schedule import wsd_multiplier


def resolve_dtype(config: PretrainConfig) -> str:
    """bf16 or fp32; auto picks bf16 on CUDA (with bf16 support) and fp32 on CPU."""
    if config.dtype != "auto":
        return config.dtype
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"


def ds_config(config: PretrainConfig, world_size: int, norm_topk_prob: bool = True) -> dict:
    """The DeepSpeed config dict. Batch fields are nominal: batch-size warm-up changes the rows per forward,
    which DeepSpeed does not check; gradient accumulation boundaries follow gradient_accumulation_steps."""
    cfg = {
        "train_micro_batch_size_per_gpu": config.micro_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "train_batch_size": config.micro_batch_size * config.gradient_accumulation_steps * world_size,
        "gradient_clipping": config.grad_clip,
        "zero_optimization": {"stage": config.zero_stage},
        "bf16": {"enabled": resolve_dtype(config) == "bf16"},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if config.expert_parallel == "autoep":
        cfg["expert_parallel"] = {
            "enabled": True,
            "autoep_size": config.ep_size,
            "preset_model": "qwen3_moe",
            "route_norm": norm_topk_prob,  # match HF numerics exactly (the preset default is True)
            # torch._grouped_mm is the CUDA path; on CPU the per-expert loop is the reliable one.
            "use_grouped_mm": torch.cuda.is_available(),
        }
    return cfg


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices, not vectors (norm weights, biases); then split MoE expert params into their own groups,
    which DeepSpeed's ZeRO needs to reduce them over the expert-data-parallel group."""
    from deepspeed.moe.utils import split_params_into_different_moe_groups_for_optimizer

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay, "name": "decay"},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "name": "no_decay"}]
    return split_params_into_different_moe_groups_for_optimizer(groups)


def _make_optimizer(model: torch.nn.Module, config: PretrainConfig, _params) -> torch.optim.Optimizer:
    # Called by DeepSpeed after AutoEP has swapped the MoE blocks, so the groups see the replacement parameters.
    return torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, betas=config.betas, eps=1e-8,
                             fused=torch.cuda.is_available())


def _make_scheduler(config: PretrainConfig, optimizer: torch.optim.Optimizer):
    lam = functools.partial(wsd_multiplier, max_steps=config.max_steps, warmup_steps=config.warmup_steps,
                            decay_fraction=config.decay_fraction, min_lr_ratio=config.min_lr_ratio,
                            decay_shape=config.decay_shape)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lam)


def build_engine(model: torch.nn.Module, config: PretrainConfig, world_size: int):
    """deepspeed.initialize with our optimizer (AdamW) and WSD LambdaLR, stepped once per optimizer step."""
    import deepspeed

    if config.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    engine, _, _, _ = deepspeed.initialize(
        model=model, model_parameters=model.parameters(),
        optimizer=functools.partial(_make_optimizer, model, config),
        lr_scheduler=functools.partial(_make_scheduler, config),
        config=ds_config(config, world_size, norm_topk_prob=model.config.norm_topk_prob))
    return engine
