"""The RL / SFT policy trainer behind one small interface, on the DeepSpeed engine pretraining uses or plain torch.

`PolicyTrainer` = what offline SFT and online RL need from a trainer: response-token log-probs of padded batches
(`logprobs`), `backward(loss, last)` over the micro-batches of one optimizer update, `step()` -> (pre-clip global
gradient norm, skipped), checkpoints, an HF export and the HF state_dict for rollout actors.

- `EngineTrainer` (optim.trainer="deepspeed"): `deepspeed.initialize` with s1model.engine's ds_config, optimizer
  groups and WSD scheduler (ZeRO 1-3, bf16 where available, the fast model `s1model.fast_moe` for Qwen3-MoE). Runs
  on one rank in-process or on every rank of the `deepspeed` launcher; the caller splits the sequences of an update
  over data-parallel ranks (`shard_for_rank`) and normalises losses by global token counts, and the trainer scales
  them by the world size, since DeepSpeed averages gradients over ranks. Gradient accumulation is driven by the
  caller (`set_gradient_accumulation_boundary`), so an update may have any number of micro-batches. An update whose
  global norm exceeds `skip_norm` (or is not finite) is skipped inside the optimizer step: `SkipAdamW` reads the norm
  DeepSpeed computed for clipping and leaves weights and moments alone.
  Under ZeRO-3 the policy is built the way pretraining builds a real-size base (s1model.load): under
  `deepspeed.zero.Init`, every rank holding only its partition of each parameter in the training dtype (bf16 on
  GPUs), filled from the checkpoint's safetensors slice by slice, so no rank ever holds the whole policy or an fp32
  copy of it; optimizer and parameter offload to the host as in pretraining (`_load_options`). ZeRO-1/2 (and
  sharded_init="off") load the HF model whole in fp32 on every rank, as before.
  No reference policy is held: the losses here (OREAL, GRPO, KL-Cov) compare the policy with the behaviour policy
  of the step (the weights before its first update), whose log-probs this same engine computes in a no-grad pass
  (s1model.rl.online.train_groups). A KL to a frozen initial model would need a second ZeRO-3-partitioned, frozen
  engine (bf16 partitions only: 2 bytes per parameter / world size, no optimizer state); nothing uses one today.
- `TorchTrainer` (optim.trainer="torch"): the previous single-process AdamW loop.
"""

from __future__ import annotations

import json
import logging
import math
import os

import torch

from s1model.rl.losses import token_logprobs

log = logging.getLogger(__name__)

STATE_JSON = "trainer_state.json"


def world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def shard_for_rank(items: list, rank: int, world_size: int) -> list:
    """This rank's contiguous share of items (sizes differ by at most one)."""
    n = len(items)
    lo, hi = n * rank // world_size, n * (rank + 1) // world_size
    return items[lo:hi]


class SkipAdamW(torch.optim.AdamW):
    """AdamW whose step does nothing when `norm_source()` (DeepSpeed's pre-clip global gradient norm of this update)
    is not finite or exceeds `skip_norm`. DeepSpeed computes the norm before it calls the inner optimizer, once per
    update (ZeRO 1/2 call step once per parameter group with the same norm)."""

    def __init__(self, *args, skip_norm: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.skip_norm = skip_norm
        self.norm_source = None
        self.skipped = False

    def step(self, closure=None):
        if self.norm_source is not None:
            norm = float(self.norm_source())
            self.skipped = not math.isfinite(norm) or (self.skip_norm is not None and norm > self.skip_norm)
            if self.skipped:
                return None
        return super().step(closure)


def _impl(model_dir: str, optim) -> str:
    if optim.model_impl != "auto":
        return optim.model_impl
    with open(os.path.join(model_dir, "config.json")) as f:
        return "s1" if json.load(f).get("model_type") == "qwen3_moe" else "hf"


def _load_options(optim) -> dict:
    """The loading and offload settings of an OptimConfig, with pretraining's defaults for fields it lacks:
    sharded_init auto|on|off (auto: on under ZeRO-3 for a Qwen3-MoE checkpoint), offload_optimizer / offload_param
    none|cpu, offload_pin_memory (see s1model.config.PretrainConfig)."""
    return {"sharded_init": getattr(optim, "sharded_init", "auto"),
            "offload_optimizer": getattr(optim, "offload_optimizer", "none"),
            "offload_param": getattr(optim, "offload_param", "none"),
            "offload_pin_memory": getattr(optim, "offload_pin_memory", True)}


def _checkpoint_config(model_dir: str) -> dict:
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def _sharded(model_dir: str, optim) -> bool:
    """Whether the policy is built partitioned (s1model.load): ZeRO-3, a Qwen3-MoE checkpoint (the layout the
    sharded loader reads), sharded_init not 'off'. sharded_init='on' where that cannot be is refused."""
    mode = _load_options(optim)["sharded_init"]
    if mode == "off":
        return False
    why = None
    if optim.zero_stage != 3:
        why = f"zero_stage={optim.zero_stage} (it needs 3)"
    elif _checkpoint_config(model_dir).get("model_type") != "qwen3_moe":
        why = f"{model_dir} is not a Qwen3-MoE checkpoint (the layout s1model.load reads)"
    if why and mode == "on":
        raise ValueError(f"sharded_init='on' cannot load the policy sharded: {why}; set sharded_init='auto' or 'off'.")
    if why and optim.zero_stage == 3:
        log.info("RL policy loaded whole on every rank, then partitioned: %s", why)
    return why is None


def _pretrain_config(optim, impl: str, model_dir: str | None = None, sharded: bool = False):
    """The PretrainConfig whose DeepSpeed settings s1model.engine builds the RL engine from: constant LR after
    `warmup_steps`, no decay, micro-batches driven by the caller. sharded: ZeRO-3 loading from model_dir
    (init_from, the checkpoint's own vocabulary: nothing is resized) with the offload options."""
    from s1model.config import ModelConfig, PretrainConfig

    load = {"sharded_init": "off"}
    if sharded:
        vocab = _checkpoint_config(model_dir)["vocab_size"]
        load = {**_load_options(optim), "sharded_init": "on", "init_from": model_dir,
                "model": ModelConfig(vocab_size=vocab)}
    elif _load_options(optim)["offload_optimizer"] != "none" or _load_options(optim)["offload_param"] != "none":
        raise ValueError("offload_optimizer / offload_param need the sharded ZeRO-3 load: zero_stage=3, a Qwen3-MoE "
                         "checkpoint and sharded_init 'auto' or 'on'.")
    return PretrainConfig(model_impl=impl, zero_stage=optim.zero_stage, dtype=optim.dtype, lr=optim.lr,
                          warmup_steps=optim.warmup_steps, decay_fraction=0.0, min_lr_ratio=1.0, max_steps=10**9,
                          weight_decay=optim.weight_decay, betas=optim.betas, grad_clip=optim.grad_clip,
                          micro_batch_size=optim.micro_batch_size, gradient_accumulation_steps=1,
                          expert_parallel="none", activation_checkpointing=optim.activation_checkpointing,
                          checkpoint_every=0, export_hf=False, **load)


def _zero3_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """s1model.engine.param_groups for partitioned parameters: decay on matrices by their full shape (ds_shape; a
    partition's data is flat). No AutoEP under ZeRO-3 here, so no expert groups."""
    params = [p for p in model.parameters() if p.requires_grad]
    shape = lambda p: tuple(getattr(p, "ds_shape", p.shape))  # noqa: E731
    return [{"params": [p for p in params if len(shape(p)) >= 2], "weight_decay": weight_decay, "name": "decay"},
            {"params": [p for p in params if len(shape(p)) < 2], "weight_decay": 0.0, "name": "no_decay"}]


class EngineTrainer:
    """The policy on a DeepSpeed engine (see module doc)."""

    kind = "deepspeed"

    def __init__(self, model_dir: str, optim, skip_norm: float | None = None, load_weights: bool = True):
        """load_weights=False (sharded load only) leaves the partitions as built, for a resume whose
        load_checkpoint overwrites them: the checkpoint is not read for nothing."""
        import deepspeed

        from s1model import engine as ds_glue
        from s1model.parallel import init_distributed
        from s1model.rl.policy import freeze_router

        init_distributed()
        self.rank, self.world_size = world()
        self.impl = _impl(model_dir, optim)
        self.sharded = _sharded(model_dir, optim)
        cfg = _pretrain_config(optim, self.impl, model_dir, self.sharded)
        self.pretrain_config = cfg
        if self.sharded:
            from s1model.load import build_sharded_model, zero3_ds_config

            model = build_sharded_model(cfg, load_weights=load_weights)
            self.hf_config = model.config
            ds_cfg = zero3_ds_config(cfg, self.world_size, norm_topk_prob=model.config.norm_topk_prob)
            groups = _zero3_groups
        else:
            from transformers import AutoModelForCausalLM

            hf = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
            hf.config.use_cache = False
            self.hf_config = hf.config
            model = hf
            if self.impl == "s1":
                from s1model.fast_moe import FastQwen3Moe

                model = FastQwen3Moe.from_hf(hf, cfg.fast_moe)
            ds_cfg = ds_glue.ds_config(cfg, self.world_size, norm_topk_prob=getattr(hf.config, "norm_topk_prob", True))
            groups = ds_glue.param_groups
        if optim.freeze_router:
            freeze_router(model)
        if cfg.activation_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

        def make_optimizer(_params):
            fused = torch.cuda.is_available() or ds_glue.resolve_dtype(cfg) == "bf16"
            return SkipAdamW(groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, eps=1e-8,
                             fused=fused, skip_norm=skip_norm)

        ds_cfg["zero_allow_untested_optimizer"] = True  # SkipAdamW is torch's AdamW plus the skip (a subclass)
        self.engine, _, _, _ = deepspeed.initialize(
            model=model, model_parameters=[p for p in model.parameters() if p.requires_grad],
            optimizer=make_optimizer, lr_scheduler=lambda opt: ds_glue._make_scheduler(cfg, opt), config=ds_cfg)
        ds_opt = self.engine.optimizer
        self.inner = getattr(ds_opt, "optimizer", ds_opt)
        if isinstance(self.inner, SkipAdamW) and ds_opt is not self.inner:
            self.inner.norm_source = lambda: ds_opt._global_grad_norm
        self.device = self.engine.device
        self.dtype = ds_glue.resolve_dtype(cfg)

    # --- forward / backward / step ---
    def train(self) -> None:
        self.engine.train()

    def logprobs(self, ids_BL, attn_BL, targets_BL) -> tuple[torch.Tensor, torch.Tensor]:
        """(log π(target) B x L, entropy B x L) in fp32. Right padding: causal attention never sees it, so the fast
        model needs no attention mask."""
        if self.impl == "s1":
            logits = self.engine(input_ids=ids_BL).logits
        else:
            logits = self.engine(input_ids=ids_BL, attention_mask=attn_BL).logits
        return token_logprobs(logits, targets_BL)

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        """Backward of one micro-batch's share of the update's loss (normalised by global counts); `last` marks the
        update's final micro-batch on this rank (gradients are reduced over ranks then)."""
        self.engine.set_gradient_accumulation_boundary(last)
        self.engine.backward(loss * self.world_size)

    def step(self) -> tuple[float, bool]:
        """Clip + AdamW + LR schedule (DeepSpeed); returns (pre-clip global grad norm, skipped)."""
        self.engine.set_gradient_accumulation_boundary(True)
        self.inner.skipped = False
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        norm = float(norm) if norm is not None else float("nan")
        skipped = bool(getattr(self.inner, "skipped", False))
        if skipped:
            log.warning("update skipped: grad norm %.3g", norm)
        return norm, skipped

    def get_lr(self) -> float:
        return float(self.engine.get_lr()[0])

    # --- weights out ---
    def export_hf(self, out_dir: str) -> str:
        """The policy in HF layout (collective; rank 0 writes), in fp32 for rollouts and averaging. Under plain ZeRO-3
        one parameter is gathered at a time (a real-size policy never whole on one rank)."""
        from s1model.export import _from_engine, _is_plain_zero3, _to_hf, export_hf_streaming

        if _is_plain_zero3(self.engine):
            export_hf_streaming(self.engine, out_dir, self.hf_config, torch.float32)
            if torch.distributed.is_initialized():
                torch.distributed.barrier()
            return out_dir
        dense, experts = _from_engine(self.engine)
        state = _to_hf(dense, experts)
        if self.rank == 0:
            _save_hf(state, self.hf_config, out_dir)
        torch.distributed.barrier()
        return out_dir

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Full HF-named fp32 weights on the host (collective under ZeRO-3)."""
        from s1model.export import _from_engine, _to_hf

        dense, experts = _from_engine(self.engine)
        return {k: v.detach().to("cpu", torch.float32) for k, v in _to_hf(dense, experts).items()}

    # --- checkpoints ---
    def save(self, ds_dir: str, tag: str, client_state: dict) -> None:
        self.engine.save_checkpoint(ds_dir, tag=tag, client_state=client_state)

    def load(self, ds_dir: str, tag: str) -> dict:
        _, client = self.engine.load_checkpoint(ds_dir, tag=tag)
        if client is None:
            raise FileNotFoundError(f"no DeepSpeed checkpoint {ds_dir}/{tag}")
        return client


def _save_hf(state: dict[str, torch.Tensor], hf_config, out_dir: str) -> None:
    """save_pretrained of the config's architecture around `state` (fp32), written under a temporary name."""
    import shutil

    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config, dtype=torch.float32)
    expected = set(model.state_dict())
    state = {k: v.detach().to("cpu", torch.float32) for k, v in state.items() if k in expected}
    if getattr(hf_config, "tie_word_embeddings", False):
        state.setdefault("lm_head.weight", state["model.embed_tokens.weight"])
    missing = expected - set(state)
    if missing:
        raise ValueError(f"HF export is missing {sorted(missing)[:5]}")
    model.load_state_dict(state, assign=True, strict=True)
    model.model.rotary_emb = type(model.model.rotary_emb)(hf_config)
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)


class TorchTrainer:
    """The policy as one HF model with plain AdamW in this process (optim.trainer="torch")."""

    kind = "torch"

    def __init__(self, model_dir: str | None, optim, skip_norm: float | None = None, model=None,
                 optimizer=None, scheduler=None):
        from s1model.rl.policy import freeze_router, load_policy, make_optimizer

        self.model = model if model is not None else load_policy(model_dir)
        if optim.freeze_router:
            freeze_router(self.model)
        if optimizer is None:
            optimizer, scheduler = make_optimizer(self.model, optim)
        self.optimizer, self.scheduler = optimizer, scheduler
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.grad_clip, self.skip_norm = optim.grad_clip, skip_norm
        self.rank, self.world_size = 0, 1
        self.device = next(self.model.parameters()).device
        self._zeroed = False

    def train(self) -> None:
        self.model.train()

    def logprobs(self, ids_BL, attn_BL, targets_BL):
        from s1model.rl.policy import response_logprobs

        return response_logprobs(self.model, ids_BL, attn_BL, targets_BL)

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        loss.backward()

    def step(self) -> tuple[float, bool]:
        norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip if self.grad_clip > 0
                                                     else float("inf")))
        skipped = not math.isfinite(norm) or (self.skip_norm is not None and norm > self.skip_norm)
        if skipped:
            log.warning("update skipped: grad norm %.3g > %s", norm, self.skip_norm)
        else:
            self.optimizer.step()
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm, skipped

    def get_lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def export_hf(self, out_dir: str) -> str:
        from s1model.rl.policy import save_checkpoint

        return save_checkpoint(self.model, None, None, out_dir, {})

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    # --- checkpoints (the EngineTrainer's interface: a folder per tag) ---
    def save(self, ckpt_dir: str, tag: str, client_state: dict) -> None:
        """Weights, optimizer, scheduler and client_state in ckpt_dir/tag/trainer.pt (loadable weights_only)."""
        path = os.path.join(ckpt_dir, tag)
        os.makedirs(path, exist_ok=True)
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "client": client_state},
                   os.path.join(path, "trainer.pt.tmp"))
        os.replace(os.path.join(path, "trainer.pt.tmp"), os.path.join(path, "trainer.pt"))

    def load(self, ckpt_dir: str, tag: str) -> dict:
        path = os.path.join(ckpt_dir, tag, "trainer.pt")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no torch trainer checkpoint {path}")
        st = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        return st["client"]


def make_trainer(model_dir: str, optim, skip_norm: float | None = None, load_weights: bool = True):
    """EngineTrainer or TorchTrainer by optim.trainer. load_weights=False: the caller resumes from an engine
    checkpoint next (EngineTrainer's sharded load then skips reading model_dir's weights)."""
    if optim.trainer == "deepspeed":
        return EngineTrainer(model_dir, optim, skip_norm, load_weights=load_weights)
    return TorchTrainer(model_dir, optim, skip_norm)
