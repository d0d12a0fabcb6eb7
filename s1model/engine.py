"""DeepSpeed glue: the ds_config a PretrainConfig implies, the optimizer and WSD scheduler, and the engine.

Expert parallelism is DeepSpeed AutoEP (`expert_parallel` section, preset `qwen3_moe`): at `deepspeed.initialize`
each HF `Qwen3MoeSparseMoeBlock` becomes an `AutoEPMoELayer` (router + grouped experts w1/w3/w2) holding
E / ep_size experts per rank, with all-to-all token dispatch. It works on CPU with gloo (ZeRO 0-3 tried).
model_impl="s1" (s1model.fast_moe) keeps the same module names, so AutoEP replaces its MoE blocks too, but only when
ep_size > 1; with ep_size 1 its own grouped-GEMM experts stay, replicated on every rank and data parallel like the
dense weights (ZeRO shards their optimizer state and gradients).
"""

from __future__ import annotations

import functools
import types

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
        # DeepSpeed's throughput timer synchronises the device at every forward and step (two host waits per
        # micro-batch); the trainer times steps itself with CUDA events
        "timers": {"throughput": {"enabled": False}},
    }
    if config.uses_autoep():
        cfg["expert_parallel"] = {
            "enabled": True,
            "autoep_size": config.ep_size,
            "preset_model": "qwen3_moe",
            "route_norm": norm_topk_prob,  # match HF numerics exactly (the preset default is True)
            # torch._grouped_mm is the CUDA path; on CPU the per-expert loop is the reliable one.
            "use_grouped_mm": torch.cuda.is_available(),
            **config.autoep.model_dump(),
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
    # Fused AdamW (one kernel per dtype group; it can also take the clip factor and skip flag, see _clip_in_adamw)
    # on CUDA, and on CPU for bf16 training; torch's CPU fused kernel is fp32-exact with the foreach one.
    fused = torch.cuda.is_available() or resolve_dtype(config) == "bf16"
    return torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, betas=config.betas, eps=1e-8,
                             fused=fused)


def _make_scheduler(config: PretrainConfig, optimizer: torch.optim.Optimizer):
    lam = functools.partial(wsd_multiplier, max_steps=config.max_steps, warmup_steps=config.warmup_steps,
                            decay_fraction=config.decay_fraction, min_lr_ratio=config.min_lr_ratio,
                            decay_shape=config.decay_shape)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lam)


def _grad_norm_fp32(self, gradients, params, norm_type=2):
    """DeepSpeedZeroOptimizer.get_grad_norm_direct (ZeRO 1/2, deepspeed 0.19.8) for the L2 norm, accumulated in fp32
    by one foreach kernel per dtype. The original upcasts every gradient to fp64 (a full copy, 8 bytes per
    parameter) and launches three kernels per parameter: ~11 ms of GPU time per step on s1-ref. Same filtering and
    all-reduces; invalid norms are masked to -1 as before."""
    from deepspeed import comm as dist
    from deepspeed.runtime.utils import is_model_parallel_parameter, mask_nan_or_inf_with_val_inplace

    if float(norm_type) != 2.0:
        return type(self).get_grad_norm_direct(self, gradients, params, norm_type)
    unpadded = (g for g in gradients if not getattr(g, "_zero_padding", False))
    grads = [g.detach() for g, p in zip(unpadded, params) if not getattr(p, "ds_pipe_replicated", False)
             and (is_model_parallel_parameter(p) or self.model_parallel_rank == 0)]
    if grads:
        total = torch.stack(torch._foreach_norm(grads, 2, dtype=torch.float32)).square().sum()
    else:
        total = torch.zeros((), dtype=torch.float32, device=self.device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=self.dp_process_group)
    self._model_parallel_all_reduce(tensor=total, op=dist.ReduceOp.SUM)
    total = total.sqrt()
    mask_nan_or_inf_with_val_inplace(total, device=self.device)
    return total


def _grads_overflow_foreach(self) -> torch.Tensor:
    """DeepSpeedZeroOptimizer.has_overflow_partitioned_grads_serial (bf16 `check_grad_overflow`) in one foreach
    norm: a gradient holds inf/NaN iff the fp32 sum of squares of all of them is not finite. The original runs amax,
    amin and isfinite per parameter (~1500 launches per step on s1-ref)."""
    grads = [g for i in range(len(self.bit16_groups)) for g in (self.averaged_gradients[i] or []) if g is not None]
    if not grads:
        return torch.zeros(1, dtype=torch.bool, device=self.device)
    sum_sq = torch.stack(torch._foreach_norm(grads, 2, dtype=torch.float32)).square().sum()
    return (~torch.isfinite(sum_sq)).reshape(1)


def _clip_in_adamw(self, grad_groups_flat, total_norm):
    """DeepSpeedZeroOptimizer.unscale_and_clip_grads without touching the gradients: the clip factor goes to fused
    AdamW as its `grad_scale` (the kernel divides each gradient by it as it reads it) and a non-finite norm sets its
    `found_inf` (the kernel then leaves weights and moments alone and takes the step count back), both as device
    tensors. Saves one read-modify-write of the fp32 gradients (~5 ms a step on s1-ref) and, with the overflow check
    off, the step's only host sync."""
    inner = self.optimizer
    total = torch.as_tensor(total_norm, dtype=torch.float32, device=self.device)
    bad = ~torch.isfinite(total) | (total < 0)  # DeepSpeed masks an invalid group norm to -1
    inner.found_inf = bad.float()
    scale = torch.full((), self.loss_scale, dtype=torch.float32, device=self.device)
    if self.clip_grad > 0.0:
        clip = (torch.where(bad, torch.ones_like(total), total) / self.loss_scale + 1e-6) / self.clip_grad
        scale = clip.clamp(min=1.0) * self.loss_scale
    inner.grad_scale = scale


def _sync_free_step_ok(optimizer) -> bool:
    inner = getattr(optimizer, "optimizer", None)
    return (getattr(optimizer, "dtype", None) == torch.bfloat16 and isinstance(inner, torch.optim.AdamW)
            and bool(inner.defaults.get("fused")) and not optimizer.cpu_offload)


def _lean_zero_checks(optimizer, foreach_checks: bool, sync_free_step: bool) -> None:
    """Lighter methods on a ZeRO 1/2 optimizer. foreach_checks: the per-parameter gradient norm and overflow check
    become foreach versions. sync_free_step (bf16, fused AdamW): clipping folds into AdamW and non-finite steps are
    skipped on the device (_clip_in_adamw) instead of by DeepSpeed's overflow check, which reads a flag back to the
    host every step."""
    from deepspeed.runtime.zero.stage_1_and_2 import DeepSpeedZeroOptimizer

    if not isinstance(optimizer, DeepSpeedZeroOptimizer):
        return
    if foreach_checks:
        optimizer.get_grad_norm_direct = types.MethodType(_grad_norm_fp32, optimizer)
        optimizer.has_overflow_partitioned_grads_serial = types.MethodType(_grads_overflow_foreach, optimizer)
    if sync_free_step and _sync_free_step_ok(optimizer):
        optimizer.check_grad_overflow = False  # bf16: then step() never reads the norm on the host
        optimizer.unscale_and_clip_grads = types.MethodType(_clip_in_adamw, optimizer)


def _check_contiguous_expert_placement(model: torch.nn.Module) -> None:
    """fast_moe.ep_experts_padded sends global expert e to the rank e // L of the EP group: refuse any AutoEP layer
    whose placement differs (AutoEP's default placement is exactly this)."""
    from deepspeed import comm as dist
    from deepspeed.checkpoint.autoep_affine import autoep_experts_for_rank

    for name, mod in model.named_modules():
        if hasattr(mod, "expert_placement_descriptor") and hasattr(mod, "ep_group"):
            r, L = dist.get_rank(group=mod.ep_group), mod.num_local_experts
            if r != mod.ep_rank or list(autoep_experts_for_rank(mod.expert_placement_descriptor, r)) != list(
                    range(r * L, (r + 1) * L)):
                raise ValueError(f"{name}: AutoEP placed experts other than contiguously by EP rank; "
                                 "set fast_moe.ep_dispatch='autoep'.")


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
    if config.model_impl == "s1":
        _lean_zero_checks(engine.optimizer, config.fast_moe.foreach_grad_checks, config.fast_moe.sync_free_step)
        if config.uses_autoep() and config.fast_moe.ep_dispatch == "padded":
            _check_contiguous_expert_placement(engine.module)
    return engine
